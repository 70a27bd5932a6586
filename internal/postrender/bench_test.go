package postrender

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// benchInput is the real 1.19.1 chart rendered with the external-defaults
// case's values, repeated n times in n namespaces (n releases' worth of
// objects, all distinct).
func benchInput(b *testing.B, n int) []byte {
	b.Helper()
	dir := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults")
	one := string(testutil.HelmTemplate(b, testutil.Chart(b, "harbor-1.19.1.tgz"), []string{filepath.Join(dir, "values.yaml")}))
	if !strings.Contains(one, `namespace: "harbor"`) {
		b.Fatal("render has no namespace to vary")
	}
	var buf bytes.Buffer
	for i := range n {
		buf.WriteString(strings.ReplaceAll(one, `namespace: "harbor"`, fmt.Sprintf(`namespace: "harbor-%03d"`, i)))
	}
	return buf.Bytes()
}

var benchSizes = []int{1, 10, 100}

// BenchmarkPostRender: in-process, the Renderer as Helm SDK users call it.
func BenchmarkPostRender(b *testing.B) {
	opts := DefaultOptions()
	opts.SharedPVC = "harbor-shared"
	opts.CreateSharedPVC = true
	r, err := New(opts, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes {
		in := benchInput(b, n)
		b.Run(fmt.Sprintf("x%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := r.Run(bytes.NewBuffer(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProcess: the whole process as Helm runs it (exec, read stdin,
// post-render, write stdout), reporting the median as well as the mean.
func BenchmarkProcess(b *testing.B) {
	bin := testutil.Harborha(b)
	for _, n := range benchSizes {
		in := benchInput(b, n)
		b.Run(fmt.Sprintf("x%d", n), func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				cmd := exec.Command(bin, "post-render", "--shared-pvc=harbor-shared", "--create-shared-pvc")
				cmd.Stdin = bytes.NewReader(in)
				cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median")
		})
	}
}
