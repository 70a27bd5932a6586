// Package testutil locates the project's test inputs (../shared, the tools
// in ./bin) and renders the real goharbor chart with the real helm binary.
//
// Inputs that are missing make a test skip on a developer's machine, and
// fail under HARBORHA_STRICT=1 (set by `make test`, so CI never counts a
// skipped test as passed). Under `go test -short` (make unit) the tests
// that need a server or the release files skip whatever is installed
// (SkipShort).
package testutil

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Update is the -update flag: golden files are rewritten instead of compared.
var Update = flag.Bool("update", false, "rewrite golden files instead of comparing with them")

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Strict reports whether missing inputs are failures (make test, CI).
func Strict() bool { return os.Getenv("HARBORHA_STRICT") == "1" }

// Missing skips the test, or fails it in strict mode.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("test input missing (HARBORHA_STRICT=1): "+format, args...)
	}
	t.Skipf("test input missing: "+format, args...)
}

// SkipShort skips the test under -short (make unit, the quick run while
// working): it needs what, a server or the release files, which take
// longer than the rest together. -short with HARBORHA_STRICT=1 is a
// failure: a strict run must run everything.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if Strict() {
		t.Fatalf("go test -short with HARBORHA_STRICT=1: this test needs %s and a strict run must not skip it", what)
	}
	t.Skipf("needs %s: not run under -short (make unit); make test runs it", what)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// SharedDir is ../shared (HARBORHA_SHARED overrides it).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := envOr("HARBORHA_SHARED", filepath.Join(RepoRoot(), "..", "shared"))
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "shared inputs directory %s (set HARBORHA_SHARED)", dir)
	}
	return dir
}

// SharedFile is a file under ../shared, which must exist.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "%s", p)
	}
	return p
}

// ReadFile is a file's content; a test that cannot read it fails.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Chart is the path of a packaged goharbor chart, e.g. "harbor-1.19.1.tgz",
// looked up in HARBORHA_CHARTS (default ../shared/charts).
func Chart(t testing.TB, file string) string {
	t.Helper()
	dir := os.Getenv("HARBORHA_CHARTS")
	if dir == "" {
		dir = filepath.Join(SharedDir(t), "charts")
	}
	p := filepath.Join(dir, file)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "chart %s (set HARBORHA_CHARTS)", p)
	}
	return p
}

// Tool is a binary built by `make tools` into ./bin, or named by env.
func Tool(t testing.TB, env, rel string) string {
	t.Helper()
	p := envOr(env, filepath.Join(RepoRoot(), "bin", rel))
	if _, err := os.Stat(p); err != nil {
		Missing(t, "%s (run `make tools`, or set %s)", p, env)
	}
	return p
}

// Helm3 is the helm v3 binary built by `make tools`.
func Helm3(t testing.TB) string { return Tool(t, "HARBORHA_HELM3", "helm") }

// Helm4 is the helm v4 binary built by `make tools`.
func Helm4(t testing.TB) string { return Tool(t, "HARBORHA_HELM4", "helm4/helm") }

// Helmfile is the helmfile binary built by `make tools`.
func Helmfile(t testing.TB) string { return Tool(t, "HARBORHA_HELMFILE", "helmfile") }

// Harborha is the plugin binary built by `make build`. make unit builds
// nothing, so under -short a test of the binary skips rather than test a
// stale one.
func Harborha(t testing.TB) string {
	t.Helper()
	SkipShort(t, "bin/harborha (make build)")
	return Tool(t, "HARBORHA_BIN", "harborha")
}

// PostRenderer is the post-render-only binary, bin/harborha-post-render
// (make build; skipped under -short as Harborha is).
func PostRenderer(t testing.TB) string {
	t.Helper()
	SkipShort(t, "bin/harborha-post-render (make build)")
	return Tool(t, "HARBORHA_POST_RENDER_BIN", "harborha-post-render")
}

// Kustomize is the real kustomize CLI (make tools).
func Kustomize(t testing.TB) string { return Tool(t, "HARBORHA_KUSTOMIZE", "kustomize") }

// KubeVersion is passed to `helm template` so renders do not depend on the
// version compiled into a helm built without release ldflags.
const KubeVersion = "v1.37.1"

// PinSecrets is ../shared/harbor/pin-secrets.example.yaml: values that pin
// the chart's generated secrets so that renders are byte-stable.
func PinSecrets(t testing.TB) string {
	return SharedFile(t, "harbor/pin-secrets.example.yaml")
}

// HelmTemplate renders chart as release "myharbor" in namespace "harbor"
// with the real helm v3 binary, the pinned secrets and the given values
// files and extra helm arguments.
func HelmTemplate(t testing.TB, chart string, valueFiles []string, extra ...string) []byte {
	t.Helper()
	args := []string{"template", "myharbor", chart, "--namespace", "harbor", "--kube-version", KubeVersion, "-f", PinSecrets(t)}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	args = append(args, extra...)
	return Run(t, nil, Helm3(t), args...)
}

// Run runs a command with an isolated Helm home and returns its stdout; a
// non-zero exit fails the test with the command's stderr.
func Run(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), IsolatedHelmEnv(t)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// IsolatedHelmEnv gives helm its own data, config and cache homes under the
// test's temporary directory, so tests never read or change the user's.
func IsolatedHelmEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
	}
}

// Golden compares got with testdata file path, or rewrites it under -update.
// A mismatch reports a unified-style line diff.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run `go test ./... -update` to create it)", path, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("output differs from golden %s (run `go test ./... -update` after reading the diff):\n%s", path, LineDiff(string(want), string(got)))
	}
}

// LineDiff is a small line diff (- want, + got) with 3 lines of context,
// enough to read a golden mismatch without external tools.
func LineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// Longest common subsequence table; goldens are a few thousand lines.
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, line{' ', a[i]})
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, line{'+', b[j]})
			j++
		default:
			ops = append(ops, line{'-', a[i]})
			i++
		}
	}
	var sb strings.Builder
	shown := -1
	for k, op := range ops {
		if op.op == ' ' {
			continue
		}
		from := max(k-3, shown+1)
		if from > shown+1 && shown >= 0 {
			sb.WriteString("@@\n")
		}
		for c := from; c < k; c++ {
			sb.WriteString("  " + ops[c].text + "\n")
		}
		sb.WriteString(string(op.op) + " " + op.text + "\n")
		shown = k
		for c := k + 1; c <= k+3 && c < len(ops) && ops[c].op == ' '; c++ {
			sb.WriteString("  " + ops[c].text + "\n")
			shown = c
		}
	}
	return sb.String()
}

// OneLineWith checks that an error message is a single line containing
// every want: the contract of user-facing errors.
func OneLineWith(t testing.TB, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message:\n  %s\ndoes not contain:\n  %s", msg, w)
		}
	}
	if strings.Contains(strings.TrimSuffix(msg, "\n"), "\n") {
		t.Errorf("message spans lines: %q", msg)
	}
}

// GoldenCase is a post-render golden case, testdata/<Name>/ at the
// repository root: the chart to render (file chart), its values
// (values.yaml), the post-render flags (args, one per line; paths in them
// are relative to the repository root and come back absolute) and the
// expected output (expected.yaml, warnings.txt).
type GoldenCase struct {
	Name, Dir, Chart string
	Args             []string
}

// GoldenCases lists the post-render golden cases, failing the test when
// fewer than min are found (a moved directory must not pass silently).
func GoldenCases(t testing.TB, min int) []GoldenCase {
	t.Helper()
	root := filepath.Join(RepoRoot(), "testdata")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var cases []GoldenCase
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		chart, err := os.ReadFile(filepath.Join(dir, "chart"))
		if err != nil {
			continue // not a post-render case
		}
		c := GoldenCase{Name: e.Name(), Dir: dir, Chart: strings.TrimSpace(string(chart))}
		args, err := os.ReadFile(filepath.Join(dir, "args"))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range strings.Fields(string(args)) {
			c.Args = append(c.Args, strings.Replace(a, "=testdata/", "="+root+"/", 1))
		}
		cases = append(cases, c)
	}
	if len(cases) < min {
		t.Fatalf("found %d golden cases under %s, expected at least %d", len(cases), root, min)
	}
	return cases
}

// Objects parses a manifest stream into its objects by identity, for
// comparing two streams object by object whatever their formatting.
func Objects(t testing.TB, stream []byte) map[manifest.ID]map[string]any {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	out := map[manifest.ID]map[string]any{}
	for _, d := range docs {
		out[d.ID()] = d.Obj.Object
	}
	return out
}

// Exec runs a command with the given environment (nil: the test's) and
// fails the test unless it exits with wantCode; it returns stdout and
// stderr. For checking exit statuses and messages of the real binaries.
func Exec(t testing.TB, env []string, wantCode int, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", filepath.Base(name), err)
	}
	if code != wantCode {
		t.Fatalf("%s %s: exit %d, want %d\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), code, wantCode, errb.String())
	}
	return out.String(), errb.String()
}
