package helmrun_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// BenchmarkWrapper: `helm harborha template --no-discover` against plain
// `helm template` with the same chart and values, whole processes side by
// side and alternating, on Helm 3 and Helm 4 (each in its own Helm home
// with the plugin installed). The wrapper's floor is one more helm start
// (plugin dispatch), harborha's own start and the post-render process.
// ratio is the ratio of the two medians; paired-ratio the median of each
// back-to-back pair's ratio.
func BenchmarkWrapper(b *testing.B) {
	chart := testutil.Chart(b, "harbor-1.19.1.tgz")
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	common := []string{"myharbor", chart, "-n", "harbor", "--kube-version", testutil.KubeVersion, "-f", values}
	for _, major := range []int{3, 4} {
		h := installPlugin(b, major)
		b.Run(fmt.Sprintf("helm%d", major), func(b *testing.B) {
			runs := [][]string{
				append([]string{"template"}, common...),
				append([]string{"harborha", "template", "--no-discover"}, common...),
			}
			times := make([][]time.Duration, len(runs))
			for b.Loop() {
				for i, args := range runs {
					cmd := exec.Command(h.helm, args...)
					cmd.Env = h.env
					start := time.Now()
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("helm %v: %v\n%.500s", args, err, out)
					}
					times[i] = append(times[i], time.Since(start))
				}
			}
			plain, wrapped := median(times[0]), median(times[1])
			b.ReportMetric(float64(plain.Microseconds())/1000, "helm-template-ms")
			b.ReportMetric(float64(wrapped.Microseconds())/1000, "harborha-template-ms")
			b.ReportMetric(float64(wrapped)/float64(plain), "ratio")
			// Each pair ran back to back, so its ratio cancels what slows
			// the machine for a while (another process, CPU steal).
			paired := make([]time.Duration, len(times[0]))
			for i := range paired {
				paired[i] = time.Duration(1000 * float64(times[1][i]) / float64(times[0][i]))
			}
			b.ReportMetric(float64(median(paired))/1000, "paired-ratio")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
