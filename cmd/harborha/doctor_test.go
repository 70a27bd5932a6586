package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/command"
)

// doctor's exit statuses when it cannot check: 2, one line, no report.
func TestDoctorCommand(t *testing.T) {
	t.Setenv("KUBECONFIG", "/does/not/exist")
	t.Setenv("HELM_NAMESPACE", "harbor")
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"doctor", "--help"}, 0, ""},
		{[]string{"doctor"}, 2, "harborha doctor: doctor needs the Helm release name"},
		{[]string{"doctor", "myharbor", "--yes"}, 2, "harborha doctor: --yes confirms the drill"},
		{[]string{"doctor", "myharbor", "-o", "sarif"}, 2, "harborha doctor: invalid argument \"sarif\" for \"-o, --output\" flag: use one of text or json"},
		{[]string{"doctor", "myharbor"}, 2, "harborha doctor: no Kubernetes configuration found"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), command.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, tt.args)
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		if code != tt.code || (tt.stderr != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], tt.stderr))) {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line starting %q", tt.args, code, errb.String(), tt.code, tt.stderr)
		}
		if tt.code != 0 && out.Len() > 0 {
			t.Errorf("%v: stdout %q", tt.args, out.String())
		}
	}
}
