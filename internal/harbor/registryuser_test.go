package harbor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The post-render goldens: a Redis ACL user with a chart before 1.19 (no
// redis.username in the registry's config.yml) is a gap; the same user
// with chart 1.19, or the default account, is none.
func TestRegistryUserGaps(t *testing.T) {
	for _, tc := range []struct {
		golden string
		want   []string // "release user where"
	}{
		{"redis-refs-1.14", []string{"/myharbor harbor ConfigMap myharbor-registry key config.yml"}}, // rendered without a namespace
		{"redis-sentinel-acl-1.18", []string{"harbor/myharbor harbor ConfigMap myharbor-registry key config.yml"}},
		{"redis-tls-metrics", nil},        // chart 1.19: the registry is told the user
		{"external-defaults-1.18", nil},   // no user: the password is default's
		{"shared-pvc-1.14-subpaths", nil}, // chart 1.14 without a user
	} {
		t.Run(tc.golden, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", tc.golden, "expected.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := manifest.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := Read(docs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range rel.RegistryUserGaps("") {
				got = append(got, fmt.Sprintf("%s %s %s", g.Release, g.User, g.Registry.Where()))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("gaps %q, want %q", got, tc.want)
			}
		})
	}
}
