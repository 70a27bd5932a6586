package lint

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// Findings the post-render goldens keep on purpose.
var (
	// Without --redis-password-secret the chart's Redis password stays in
	// core's and jobservice's URLs and the registry's config.yml.
	redisInConfigMaps = []string{
		"HA012 ConfigMap/myharbor-core warning",
		"HA012 ConfigMap/myharbor-jobservice warning",
		"HA012 ConfigMap/myharbor-registry warning",
	}
	// Without --shared-pvc the chart's ReadWriteOnce claims stay under two
	// replicas; the post-renderer warns about exactly these.
	rwoClaims = []string{
		"HA008 Deployment/myharbor-jobservice error",
		"HA008 Deployment/myharbor-registry error",
	}
)

// pinnedTokenKey is the finding every golden has: they render with
// ../shared/harbor/pin-secrets.example.yaml, whose core.tokenKey is a
// PKCS#8 key, which Harbor's token service cannot read (on the real Harbor
// every login then fails with HTTP 500: docs/harbor-from-source.md).
const pinnedTokenKey = "HA017 Secret/myharbor-core error"

// goldenWant is what lint reports on golden name: its goldenFindings and
// the pinned token key's.
func goldenWant(t *testing.T, name string) []string {
	t.Helper()
	want, ok := goldenFindings[name]
	if !ok {
		t.Fatalf("no expected findings for golden %s: add it to goldenFindings", name)
	}
	out := append(slices.Clone(want), pinnedTokenKey)
	slices.Sort(out)
	return out
}

// goldenFindings is what lint reports on each post-render golden
// (testdata/<case>/expected.yaml at the repository root). Only the cases
// that ask for an HA topology are clean of errors; with
// --redis-password-secret, no case has a Redis password in a ConfigMap
// (HA012) or in env (HA014).
var goldenFindings = map[string][]string{
	"chart-pdb-affinity":       rwoClaims,
	"config-file":              {},
	"external-defaults":        rwoClaims,
	"external-defaults-1.14":   rwoClaims,
	"external-defaults-1.18":   rwoClaims,
	"hard-zone":                {},
	"shared-pvc-1.14-subpaths": {},
	"shared-pvc-create":        {},
	// An ACL user with a chart before 1.19: its registry cannot log in as it.
	"redis-refs-1.14":         join(rwoClaims, []string{"HA018 ConfigMap/myharbor-registry warning"}),
	"redis-sentinel-acl-1.18": join(rwoClaims, []string{"HA018 ConfigMap/myharbor-registry warning"}),
	"redis-tls-metrics":       rwoClaims,
	// The database proxy beside core, jobservice and exporter adds no
	// finding: its password is a reference, the pools' budget the same.
	"database-proxy": rwoClaims,
	// No --redis-password-secret: the post-renderer leaves the password.
	"object-storage": redisInConfigMaps,
	"user-kustomize": join(rwoClaims, redisInConfigMaps),
	// The chart's defaults: internal PostgreSQL and Redis (no password).
	"internal-db-redis": join(rwoClaims, []string{
		"HA009 StatefulSet/myharbor-database error",
		"HA009 StatefulSet/myharbor-redis error",
	}),
	// --anti-affinity=none keeps replicas unspread; trivy=1 is one pod;
	// metrics add the exporter.
	"replica-overrides": join(rwoClaims, []string{
		"HA001 StatefulSet/myharbor-trivy warning",
		"HA002 Deployment/myharbor-core error",
		"HA002 Deployment/myharbor-exporter warning",
		"HA002 Deployment/myharbor-jobservice error",
		"HA002 Deployment/myharbor-nginx error",
		"HA002 Deployment/myharbor-portal error",
		"HA002 Deployment/myharbor-registry error",
	}),
	// --autoscale trivy=1:3 lets the scanner down to one pod; jobservice
	// requests no CPU, so its autoscaler cannot scale (the post-renderer
	// warns about it too).
	"autoscale": {
		"HA001 StatefulSet/myharbor-trivy warning",
		"HA016 Deployment/myharbor-jobservice warning",
	},
	// Chart 1.14's defaults request no CPU anywhere: every autoscaler is
	// blind until the values set requests (the post-renderer warns).
	"autoscale-config-1.14": {
		"HA016 Deployment/myharbor-core warning",
		"HA016 Deployment/myharbor-jobservice warning",
		"HA016 Deployment/myharbor-nginx warning",
		"HA016 Deployment/myharbor-portal warning",
		"HA016 Deployment/myharbor-registry warning",
	},
	// --replicas registry=1,jobservice=1 on purpose (RWO without Recreate
	// deadlock), and no --redis-password-secret.
	"rwo-single-registry": join(redisInConfigMaps, []string{
		"HA001 Deployment/myharbor-jobservice error",
		"HA001 Deployment/myharbor-registry error",
	}),
}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}

func hasErrors(findings []string) bool {
	for _, f := range findings {
		if strings.HasSuffix(f, " error") {
			return true
		}
	}
	return false
}

// goldenCases are the post-render goldens with their post-render flags
// as lint flags (--config is --post-render-config there).
func goldenCases(t *testing.T) []testutil.GoldenCase {
	t.Helper()
	cases := testutil.GoldenCases(t, 10)
	for i := range cases {
		for j, a := range cases[i].Args {
			cases[i].Args[j] = strings.Replace(a, "--config=", "--post-render-config=", 1)
		}
	}
	return cases
}

func TestPostRenderGoldens(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			want := goldenWant(t, c.Name)
			r, failed := lintJSON(t, nil, filepath.Join(c.Dir, "expected.yaml"))
			if got := summary(r, ""); !slices.Equal(got, want) {
				t.Errorf("findings:\n got %q\nwant %q", got, want)
			}
			if failed != hasErrors(want) {
				t.Errorf("failed = %v, want %v (an error finding fails the lint)", failed, hasErrors(want))
			}
		})
	}
}

// The same goldens, rendered and post-rendered in-process by --chart
// --post-render with each case's values and knobs, give the same findings
// as the goldens the real helm binary and the post-renderer produced.
func TestChartPostRenderMatchesGoldens(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"--chart", testutil.Chart(t, c.Chart), "--release", "myharbor", "-n", "harbor",
				"-f", testutil.PinSecrets(t), "-f", filepath.Join(c.Dir, "values.yaml"), "--post-render"}
			r, _ := lintJSON(t, nil, append(args, c.Args...)...)
			if got, want := summary(r, ""), goldenWant(t, c.Name); !slices.Equal(got, want) {
				t.Errorf("findings:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// The plain chart, without post-render, for every chart version the
// project supports.
// plainChartFindings are the plain chart's, besides the pinned token
// key's (every render here uses the pinned secrets: pinnedTokenKey).
var plainChartFindings = map[string][]string{
	// Defaults: one replica each, the internal database and Redis, ingress
	// (no nginx), Redis without a password.
	"defaults": {
		"HA001 Deployment/myharbor-core error",
		"HA001 Deployment/myharbor-jobservice error",
		"HA001 Deployment/myharbor-portal error",
		"HA001 Deployment/myharbor-registry error",
		"HA001 StatefulSet/myharbor-trivy warning",
		"HA009 StatefulSet/myharbor-database error",
		"HA009 StatefulSet/myharbor-redis error",
		"HA019 Deployment/myharbor-core error", // 900 x (2 + 2 + 2) pods against the internal database's 1024
		"HA020 Deployment/myharbor-core warning",
	},
	// External database and Redis behind a NodePort: nginx appears, the
	// internal stores go, and the Redis password lands in ConfigMaps.
	"external": join(redisInConfigMaps, []string{
		"HA001 Deployment/myharbor-core error",
		"HA001 Deployment/myharbor-jobservice error",
		"HA001 Deployment/myharbor-nginx error",
		"HA001 Deployment/myharbor-portal error",
		"HA001 Deployment/myharbor-registry error",
		"HA001 StatefulSet/myharbor-trivy warning",
		"HA019 Deployment/myharbor-core error",   // 900 per pod against an assumed 100
		"HA020 Deployment/myharbor-core warning", // Harbor's 5m connection lifetime
	}),
}

func TestPlainChart(t *testing.T) {
	external := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	for _, version := range []string{"1.14.3", "1.18.4", "1.19.1"} {
		for _, values := range []string{"defaults", "external"} {
			t.Run(version+"/"+values, func(t *testing.T) {
				chart := testutil.Chart(t, "harbor-"+version+".tgz")
				files := []string{testutil.PinSecrets(t)}
				if values == "external" {
					files = append(files, external)
				}
				want := append(slices.Clone(plainChartFindings[values]), pinnedTokenKey)
				slices.Sort(want)

				// helm template with the real binary, linted from stdin.
				rendered := testutil.HelmTemplate(t, chart, files[1:])
				fromHelm, failed := lintJSON(t, rendered, "-")
				if got := summary(fromHelm, ""); !slices.Equal(got, want) {
					t.Errorf("helm template | lint -:\n got %q\nwant %q", got, want)
				}
				if !failed {
					t.Error("the plain chart must fail the lint")
				}

				// The in-process render is the same stream, byte for byte, but
				// for the certificates genSelfSignedCert makes anew on every
				// render (the ingress TLS Secret of the defaults).
				inProcess, err := renderChart(t.Context(), cli.New(), "harbor", ChartFlags{
					Chart: chart, Release: "myharbor", KubeVersion: DefaultKubeVersion,
				}.withValueFiles(files), nil)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := withoutCerts(rendered), withoutCerts(inProcess); a != b {
					t.Errorf("--chart renders differently from helm template:\n%s", testutil.LineDiff(a, b))
				}

				// And lint --chart reports the same.
				args := []string{"--chart", chart, "--release", "myharbor", "-n", "harbor"}
				for _, f := range files {
					args = append(args, "-f", f)
				}
				fromChart, _ := lintJSON(t, nil, args...)
				if got := summary(fromChart, ""); !slices.Equal(got, want) {
					t.Errorf("lint --chart:\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

var generatedCert = regexp.MustCompile(`(?m)^(\s*(?:tls\.crt|tls\.key|ca\.crt):).*$`)

func withoutCerts(stream []byte) string {
	return generatedCert.ReplaceAllString(string(stream), "$1 <generated>")
}

func (c ChartFlags) withValueFiles(files []string) ChartFlags {
	c.Values.ValueFiles = files
	return c
}

// The chart's own budgets (chart 1.19, <component>.podDisruptionBudget):
// lint finds those that block a drain at the release's replica count
// (HA005) or that the API server refuses (HA007); post-rendered, each
// component has one budget of maxUnavailable 1, so neither remains.
// Charts before 1.19 render no budget: the values change nothing, and the
// post-renderer adds ours.
func TestChartBudgets(t *testing.T) {
	external := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	set := []string{
		"--set", "core.replicas=2", "--set", "core.podDisruptionBudget.enabled=true", "--set", "core.podDisruptionBudget.minAvailable=2",
		"--set", "portal.replicas=3", "--set", "portal.podDisruptionBudget.enabled=true", "--set", "portal.podDisruptionBudget.maxUnavailable=1",
	}
	for _, tt := range []struct {
		chart      string
		postRender bool
		want       []string // the findings about budgets (HA004, HA005, HA007)
	}{
		{"1.19.1", false, []string{
			"HA005 PodDisruptionBudget/myharbor-core error",   // minAvailable 2 of 2
			"HA007 PodDisruptionBudget/myharbor-portal error", // the chart's minAvailable 1 and the value's maxUnavailable 1
		}},
		{"1.19.1", true, []string{}},
		{"1.18.4", false, []string{"HA004 Deployment/myharbor-core error", "HA004 Deployment/myharbor-portal error"}},
		{"1.18.4", true, []string{}},
	} {
		t.Run(fmt.Sprintf("%s/post-render=%v", tt.chart, tt.postRender), func(t *testing.T) {
			args := append([]string{"--chart", testutil.Chart(t, "harbor-"+tt.chart+".tgz"), "--release", "myharbor", "-n", "harbor",
				"-f", testutil.PinSecrets(t), "-f", external}, set...)
			if tt.postRender {
				args = append(args, "--post-render")
			}
			r, _ := lintJSON(t, nil, args...)
			var got []string
			for _, rule := range []string{"HA004", "HA005", "HA007"} {
				got = append(got, summary(r, rule)...)
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("budget findings:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
