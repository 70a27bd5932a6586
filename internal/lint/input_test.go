package lint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// startLines must agree with manifest.Parse on every real stream: each
// document's line is where its text starts.
func TestStartLinesMatchParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), "testdata", "*", "expected.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	files = append(files, filepath.Join("testdata", "ha-release.yaml"))
	extra := "\n\n  \n---\n# only a comment\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---   \n\n\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
	for _, f := range files {
		data := string(testutil.ReadFile(t, f))
		for _, stream := range []string{data, extra} {
			docs, err := manifest.Parse([]byte(stream))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(stream, "\n")
			starts := startLines(stream)
			for _, d := range docs {
				n := starts[d.Pos]
				first := strings.SplitN(strings.TrimSpace(d.Raw), "\n", 2)[0]
				if n < 1 || n > len(lines) || strings.TrimSpace(lines[n-1]) != first {
					t.Fatalf("%s: document %d starts with %q, but line %d is not it", f, d.Pos, first, n)
				}
			}
		}
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// splitDocs cuts the baseline into one document per file, as
// `helm template --output-dir` leaves a release.
func splitDocs(t *testing.T, stream []byte) []string {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		out = append(out, d.Raw+"\n")
	}
	return out
}

func TestDirectoryInput(t *testing.T) {
	docs := splitDocs(t, brokenRelease(t))
	files := map[string]string{"README.md": "not yaml, not read"}
	for i, d := range docs {
		// Nested and both extensions; names sort in document order.
		name := filepath.Join("harbor", "templates", string(rune('a'+i))+".yaml")
		if i%2 == 1 {
			name = filepath.Join("harbor", "templates", "sub", string(rune('a'+i))+".yml")
		}
		files[name] = d
	}
	dir := writeFiles(t, files)

	a, failedDir := lintJSON(t, nil, dir)
	b, failedStdin := lintJSON(t, brokenRelease(t), "-")
	if !slices.Equal(summary(a, ""), summary(b, "")) || failedDir != failedStdin || len(a.Findings) == 0 {
		t.Errorf("a directory and the same stream on stdin differ:\n dir   %q\n stdin %q", summary(a, ""), summary(b, ""))
	}
	for _, f := range a.Findings {
		if !strings.HasPrefix(f.Location.File, dir) || f.Location.Line != 1 {
			t.Errorf("%s: location %+v should be line 1 of a file in %s", f.Rule, f.Location, dir)
		}
	}
}

func TestSeveralFilesAreOneRelease(t *testing.T) {
	docs := splitDocs(t, baseline(t).stream())
	half := len(docs) / 2
	dir := writeFiles(t, map[string]string{"one.yaml": strings.Join(docs[:half], "---\n"), "two.yaml": strings.Join(docs[half:], "---\n")})
	stdout, _, failed, err := runLint(t, nil, filepath.Join(dir, "one.yaml"), filepath.Join(dir, "two.yaml"))
	if err != nil || failed {
		t.Fatalf("the baseline split over two files must pass: failed=%v err=%v\n%s", failed, err, stdout)
	}
	if !strings.Contains(stdout, "lint passed: 0 errors, 0 warnings in 9 objects") {
		t.Errorf("summary line: %s", stdout)
	}
}

func TestSuppression(t *testing.T) {
	oneCore := func(f *fixture) { f.set(dpl, "myharbor-core", "1", "spec", "replicas") }
	cases := []struct {
		name     string
		change   func(f *fixture)
		args     []string
		want     []string
		suppress int
		failed   bool
	}{
		{name: "nothing silenced", change: oneCore, want: []string{"HA001 Deployment/myharbor-core error", "HA005 PodDisruptionBudget/myharbor-core error"}, failed: true},
		{name: "--disable", change: oneCore, args: []string{"--disable", "HA001,ha005"}, want: []string{}, suppress: 2},
		{name: "annotation on the object", change: func(f *fixture) {
			oneCore(f)
			f.set(dpl, "myharbor-core", `{harborha.io/lint-ignore: "HA001"}`, "metadata", "annotations")
		}, want: []string{"HA005 PodDisruptionBudget/myharbor-core error"}, suppress: 1, failed: true},
		{name: "annotation on the pod template, lower case, two ids", change: func(f *fixture) {
			oneCore(f)
			f.set(dpl, "myharbor-core", `{harborha.io/lint-ignore: "ha001 ha009"}`, "spec", "template", "metadata", "annotations")
			f.set(pdb, "myharbor-core", `{harborha.io/lint-ignore: "HA005"}`, "metadata", "annotations")
		}, want: []string{}, suppress: 2},
		{name: "an annotation silences only its object", change: func(f *fixture) {
			oneCore(f)
			f.set(dpl, "myharbor-registry", `{harborha.io/lint-ignore: "HA001"}`, "metadata", "annotations")
		}, want: []string{"HA001 Deployment/myharbor-core error", "HA005 PodDisruptionBudget/myharbor-core error"}, failed: true},
		{name: "one trivy pod is a warning, which passes", change: func(f *fixture) { f.set(sts, "myharbor-trivy", "1", "spec", "replicas") },
			want: []string{"HA001 StatefulSet/myharbor-trivy warning"}},
		{name: "warnings pass without --strict", change: func(f *fixture) {
			f.set(cm, "myharbor-core", "redis://:pw-123456@r:6379/0", "data", "_REDIS_URL_CORE")
		}, want: []string{"HA012 ConfigMap/myharbor-core warning"}},
		{name: "warnings fail with --strict", change: func(f *fixture) {
			f.set(cm, "myharbor-core", "redis://:pw-123456@r:6379/0", "data", "_REDIS_URL_CORE")
		}, args: []string{"--strict"}, want: []string{"HA012 ConfigMap/myharbor-core warning"}, failed: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := baseline(t)
			c.change(f)
			r, failed := lintJSON(t, f.stream(), append(c.args, "-")...)
			if got := summary(r, ""); !slices.Equal(got, c.want) {
				t.Errorf("findings %q, want %q", got, c.want)
			}
			if r.Summary.Suppressed != c.suppress || failed != c.failed || r.Summary.Failed != c.failed {
				t.Errorf("suppressed %d failed %v (summary %v), want %d %v", r.Summary.Suppressed, failed, r.Summary.Failed, c.suppress, c.failed)
			}
		})
	}
}

// Every bad input is one clear error (exit 2 in the command) and nothing
// on stdout.
func TestBadInputs(t *testing.T) {
	good := string(baseline(t).stream())
	dir := writeFiles(t, map[string]string{
		"good.yaml":    good,
		"empty/x.txt":  "",
		"notyaml.yaml": "apiVersion: v1\nkind: [oops\n",
		"nokind.yaml":  "apiVersion: v1\nmetadata: {name: x}\n",
		"other.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"dup.yaml":     "---\n# Source: x\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: myharbor-core, namespace: harbor}\n",
		"badsel.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: harbor}\nspec:\n  selector: {matchLabels: {release: r, app: harbor, component: core}}\n  template: {metadata: {labels: {app: other}}}\n",
		"values.yaml":  "core: {replicas: 2}\n",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no input", "", nil, "nothing to lint"},
		{"missing file", "", []string{p("nope.yaml")}, "nope.yaml: no such file or directory"},
		{"directory without yaml", "", []string{p("empty")}, "no *.yaml or *.yml files"},
		{"not YAML", "", []string{p("notyaml.yaml")}, "notyaml.yaml:1: document 1: not valid YAML"},
		{"not an object", "", []string{p("nokind.yaml")}, `"kind" must be a non-empty string`},
		{"empty stdin", "", []string{"-"}, "no Kubernetes objects in the input"},
		{"stdin twice", good, []string{"-", "-"}, "stdin can be read once"},
		{"no Harbor workloads", "", []string{p("other.yaml")}, "no goharbor/harbor workloads"},
		{"an object twice across files", "", []string{p("good.yaml"), p("dup.yaml")}, "dup.yaml:2, from x: ConfigMap/harbor/myharbor-core is also at " + p("good.yaml") + ":2"},
		{"selector that does not match the pods", "", []string{p("badsel.yaml")}, "badsel.yaml:1: document 1 (Deployment/harbor/d): spec.selector does not match"},
		{"unknown output", good, []string{"-o", "yaml", "-"}, `invalid argument "yaml" for "-o, --output" flag: use one of text, json or sarif`},
		{"unknown rule", good, []string{"--disable", "HA999", "-"}, "--disable HA999: no such rule"},
		{"unknown flag", good, []string{"--replica", "2", "-"}, "unknown flag: --replica"},
		{"chart and files", "", []string{"--chart", p("x.tgz"), p("good.yaml")}, "either --chart or manifests"},
		{"values without chart", good, []string{"-f", p("values.yaml"), "-"}, "-f/--values is only used with --chart"},
		{"knob without --post-render", good, []string{"--replicas", "3", "-"}, "--replicas is a post-render knob: add --post-render"},
		{"config without --post-render", good, []string{"--post-render-config", p("values.yaml"), "-"}, "--post-render-config needs --post-render"},
		{"bad post-render config", good, []string{"--post-render", "--post-render-config", p("values.yaml"), "-"}, "--post-render-config " + p("values.yaml") + ": "},
		{"bad knob", good, []string{"--post-render", "--anti-affinity", "always", "-"}, `--anti-affinity: "always" is not soft, hard or none`},
		{"chart that does not exist", "", []string{"--chart", p("x.tgz")}, "--chart " + p("x.tgz")},
		{"bad kube version", "", []string{"--chart", p("x.tgz"), "--kube-version", "latest"}, `--kube-version "latest" is not a Kubernetes version`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, _, _, err := runLint(t, []byte(c.stdin), c.args...)
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", stdout)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout must stay empty on error, got %q", stdout)
			}
		})
	}
}

func TestPostRenderFileInput(t *testing.T) {
	// A plain (not post-rendered) release from a file, post-rendered by
	// lint itself, loses the findings the post-renderer fixes.
	// Without --redis-password-secret the Redis password stays (HA012), and
	// the post-renderer says so on stderr. HA017 is silenced: the pinned
	// test secrets' token key is its (goldenWant).
	file := filepath.Join(testutil.RepoRoot(), "testdata", "object-storage", "expected.yaml")
	stdout, stderr, _, err := runLint(t, nil, "--post-render", "--replicas", "3", "--disable", "HA017", file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "the Redis password is inline in ConfigMap myharbor-core key _REDIS_URL_CORE") {
		t.Errorf("post-render warnings: want the one about the inline Redis password, got:\n%s", stderr)
	}
	if !strings.Contains(stdout, "lint passed: 0 errors, 3 warnings") {
		t.Errorf("text report:\n%s", stdout)
	}
	r, failed := lintJSON(t, nil, "--post-render", "--replicas", "3", "--disable", "HA017", file)
	if got := summary(r, ""); !slices.Equal(got, redisInConfigMaps) || failed {
		t.Errorf("findings %q (failed %v), want %q", got, failed, redisInConfigMaps)
	}
	for _, f := range r.Findings {
		if f.Location.File != "" || f.Location.Template == "" {
			t.Errorf("post-rendered documents come from no file but from a template: %+v", f.Location)
		}
	}
}
