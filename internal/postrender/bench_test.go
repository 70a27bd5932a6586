package postrender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
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

// benchArgs are the knobs of the measurement: every change the
// post-renderer makes (replicas, hard anti-affinity, zone spread, the
// shared claim moved, dropped and created, budgets).
var benchArgs = []string{"--replicas=3", "--anti-affinity=hard", "--zone-spread", "--shared-pvc=harbor-shared", "--create-shared-pvc"}

// BenchmarkPostRender: in-process, the Renderer as Helm SDK users call it.
func BenchmarkPostRender(b *testing.B) {
	opts, _, err := parseKnobs(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
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

// BenchmarkProcess: whole processes as Helm runs a post-renderer (exec,
// stdin, stdout), side by side in one run, alternating: the
// harborha-post-render binary, `harborha post-render` (the one binary),
// and what a user would write instead — a shell post-renderer running the
// real kustomize CLI with the same JSON6902 patches, the budgets and the
// claim as resources, and `$patch: delete` for the dropped claims. It
// reports medians, peak RSS, and the ratios to the kustomize script.
func BenchmarkProcess(b *testing.B) {
	kustomize := testutil.Kustomize(b)
	runners := []struct {
		name string
		cmd  func(dir string) *exec.Cmd
	}{
		{"post-render-bin", func(string) *exec.Cmd { return exec.Command(testutil.PostRenderer(b), benchArgs...) }},
		{"harborha", func(string) *exec.Cmd {
			return exec.Command(testutil.Harborha(b), append([]string{"post-render"}, benchArgs...)...)
		}},
		{"kustomize-script", func(dir string) *exec.Cmd {
			return exec.Command("sh", "-c", `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cp -R "$1"/. "$d" && cat > "$d/input.yaml" && "$2" build "$d"`, "sh", dir, kustomize)
		}},
	}
	for _, n := range benchSizes {
		in := benchInput(b, n)
		dir := kustomizeScriptDir(b, in)
		b.Run(fmt.Sprintf("x%d", n), func(b *testing.B) {
			times := make([][]time.Duration, len(runners))
			rss := make([]int64, len(runners))
			for b.Loop() {
				for i, r := range runners {
					d, m := runOnce(b, r.cmd(dir), in)
					times[i] = append(times[i], d)
					rss[i] = max(rss[i], m)
				}
			}
			base := median(times[len(runners)-1])
			for i, r := range runners {
				b.ReportMetric(float64(median(times[i]).Microseconds())/1000, r.name+"-ms")
				b.ReportMetric(float64(rss[i])/1024, r.name+"-MiB")
				if i < len(runners)-1 {
					b.ReportMetric(float64(median(times[i]))/float64(base), r.name+"/kustomize")
				}
			}
		})
	}
}

// runOnce runs cmd on stdin in and returns its wall time and peak RSS
// (KiB). The RSS is GNU time's: a child this test process starts directly
// reports the test's own RSS as its peak (Linux keeps the larger of the
// memory it had before exec and after), so the command runs under
// /usr/bin/time, whose own footprint is a few hundred KiB.
func runOnce(b *testing.B, cmd *exec.Cmd, in []byte) (time.Duration, int64) {
	rss := filepath.Join(b.TempDir(), "rss")
	cmd.Args = append([]string{timeBin(b), "-f", "%M", "-o", rss}, cmd.Args...)
	cmd.Path = cmd.Args[0]
	cmd.Stdin = bytes.NewReader(in)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, errb.String())
	}
	d := time.Since(start)
	out, err := os.ReadFile(rss)
	if err != nil {
		b.Fatal(err)
	}
	var kib int64
	if _, err := fmt.Sscan(string(out), &kib); err != nil {
		b.Fatalf("GNU time wrote %q: %v", out, err)
	}
	return d, kib
}

// timeBin is GNU time (Debian's time package), for peak RSS.
func timeBin(b *testing.B) string {
	const p = "/usr/bin/time"
	if _, err := os.Stat(p); err != nil {
		testutil.Missing(b, "%s (Debian package time) for the peak RSS", p)
	}
	return p
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// kustomizeScriptDir writes the kustomization the shell post-renderer runs:
// our plan's own operations as JSON6902 patches, what we add as resources,
// and deletes for the claims we drop. The stream itself arrives as
// input.yaml.
func kustomizeScriptDir(b *testing.B, stream []byte) string {
	b.Helper()
	opts, _, err := parseKnobs(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
	docs, err := manifest.Parse(stream)
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.Plan(docs)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	write := func(name string, v any) {
		data, err := yaml.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	c := p.Changes()
	var added []string
	for _, a := range c.Added {
		y, _ := yaml.Marshal(a.Object)
		added = append(added, string(y))
	}
	if err := os.WriteFile(filepath.Join(dir, "added.yaml"), manifest.Write(added), 0o644); err != nil {
		b.Fatal(err)
	}
	var patches []any
	for _, pt := range c.Patches {
		gv, _ := schema.ParseGroupVersion(pt.APIVersion)
		ops, _ := json.Marshal(pt.Ops)
		patches = append(patches, map[string]any{"patch": string(ops), "target": map[string]any{
			"group": gv.Group, "version": gv.Version, "kind": pt.Target.Kind, "name": pt.Target.Name, "namespace": pt.Target.Namespace}})
	}
	for _, id := range c.Dropped {
		patches = append(patches, map[string]any{"patch": fmt.Sprintf("$patch: delete\napiVersion: v1\nkind: %s\nmetadata: {name: %s, namespace: %s}\n", id.Kind, id.Name, id.Namespace)})
	}
	write("kustomization.yaml", map[string]any{"resources": []string{"input.yaml", "added.yaml"}, "patches": patches})
	return dir
}
