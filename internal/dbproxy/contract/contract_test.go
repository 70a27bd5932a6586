package contract

import (
	"slices"
	"strings"
	"testing"
)

// TestHostPorts: the one reading of a host:port list, the proxy's and the
// post-render's.
func TestHostPorts(t *testing.T) {
	cases := []struct {
		list    string
		want    []string
		wantErr string // the entry named; "" for none
	}{
		{"", nil, ""},
		{"pg-postgresql.db.svc:5432", []string{"pg-postgresql.db.svc:5432"}, ""},
		{" a:5432 , ,10.0.0.7:5433,[fd00::1]:5432", []string{"a:5432", "10.0.0.7:5433", "[fd00::1]:5432"}, ""},
		{"PG_Primary.example.com:5432", []string{"PG_Primary.example.com:5432"}, ""},
		{"a:5432,b", nil, `"b"`},
		{"a:0", nil, `"a:0"`},
		{"a:65536", nil, `"a:65536"`},
		{"a:postgres", nil, `"a:postgres"`},
		{":5432", nil, `":5432"`},
		{"Pg Headless:5432", nil, `"Pg Headless:5432"`},
		{"-a:5432", nil, `"-a:5432"`},
		{"a/b:5432", nil, `"a/b:5432"`},
	}
	for _, tc := range cases {
		got, err := HostPorts(tc.list)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("HostPorts(%q): %v", tc.list, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr+" is not host:port")):
			t.Errorf("HostPorts(%q) = %v, %v; want an error naming %s", tc.list, got, err, tc.wantErr)
		case tc.wantErr == "" && !slices.Equal(got, tc.want):
			t.Errorf("HostPorts(%q) = %q, want %q", tc.list, got, tc.want)
		}
	}
}
