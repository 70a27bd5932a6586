package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The built binary (`make build`), end to end: exit status, and what goes
// to stdout and stderr.
func TestBinary(t *testing.T) {
	bin := testutil.Harborha(t)
	root := testutil.RepoRoot()
	// An HA topology post-rendered without --redis-password-secret: its
	// only findings are the three HA012 warnings, besides the pinned test
	// secrets' token key (HA017, goldenWant), disabled here.
	haGolden := filepath.Join(root, "testdata", "object-storage", "expected.yaml")
	cases := []struct {
		name       string
		args       []string
		stdinFile  string
		stdin      string
		code       int
		stdout     string // must contain
		stderrLine string // the one stderr line must contain ("" = stderr empty)
	}{
		{name: "HA golden passes", args: []string{"lint", "--disable", "HA017", "-"}, stdinFile: haGolden, code: 0, stdout: "lint passed: 0 errors, 3 warnings"},
		{name: "--strict fails on its warnings", args: []string{"lint", "--strict", "--disable", "HA017", "-"}, stdinFile: haGolden, code: 1, stdout: "lint failed: 0 errors, 3 warnings"},
		{name: "--disable the warnings", args: []string{"lint", "--strict", "--disable", "HA012,HA017", haGolden}, code: 0, stdout: "(4 suppressed)"},
		{name: "broken YAML", args: []string{"lint", "-"}, stdin: "apiVersion: v1\nkind: [\n", code: 2, stderrLine: "harborha lint: <stdin>:1: document 1: not valid YAML"},
		{name: "no input", args: []string{"lint"}, code: 2, stderrLine: "harborha lint: nothing to lint"},
		{name: "bad flag", args: []string{"lint", "--output=xml", "-"}, stdin: "x", code: 2, stderrLine: `harborha lint: invalid argument "xml" for "-o, --output" flag: use one of text, json or sarif`},
		{name: "help", args: []string{"lint", "--help"}, code: 0, stdout: "Usage:\n  helm harborha lint"},
		{name: "listed in the commands", args: []string{"help"}, code: 0, stdout: "  lint "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Env = append(cmd.Environ(), "NO_COLOR=1")
			switch {
			case c.stdinFile != "":
				cmd.Stdin = strings.NewReader(string(testutil.ReadFile(t, c.stdinFile)))
			default:
				cmd.Stdin = strings.NewReader(c.stdin)
			}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			code := exitCode(t, cmd.Run())
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), c.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", c.stdout, out.String())
			}
			checkStderr(t, errb.String(), c.stderrLine)
			if c.code == 2 && out.Len() > 0 {
				t.Errorf("nothing may reach stdout when lint cannot run, got %q", out.String())
			}
		})
	}
}

// `helm template ... | harborha lint -` through a real shell pipe, in
// every output format.
func TestBinaryInAPipe(t *testing.T) {
	bin := testutil.Harborha(t)
	helm := testutil.Helm3(t)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	for _, format := range []output.Format{output.Text, output.JSON, output.SARIF} {
		t.Run(string(format), func(t *testing.T) {
			script := `"$HELM" template myharbor "$CHART" -n harbor --kube-version ` + DefaultKubeVersion + ` -f "$PIN" -f "$VALUES" | "$BIN" lint -o ` + string(format) + ` -`
			cmd := exec.Command("sh", "-c", script)
			cmd.Env = append(cmd.Environ(), testutil.IsolatedHelmEnv(t)...)
			cmd.Env = append(cmd.Env, "HELM="+helm, "CHART="+chart, "PIN="+testutil.PinSecrets(t), "VALUES="+values, "BIN="+bin, "NO_COLOR=1")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if code := exitCode(t, cmd.Run()); code != 1 {
				t.Fatalf("exit %d, want 1 (the plain chart is not HA)\n%s", code, errb.String())
			}
			checkStderr(t, errb.String(), "")
			switch format {
			case output.Text:
				// 7 errors: the pinned secrets' token key is one (HA015),
				// the chart's 900 connections per pod another (HA019); 5
				// warnings, Harbor's 5m connection lifetime one (HA020).
				if !strings.Contains(out.String(), "lint failed: 7 errors, 5 warnings in 27 objects") {
					t.Errorf("summary missing:\n%s", out.String())
				}
			default:
				var doc map[string]any
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Errorf("-o %s is not one JSON document: %v", format, err)
				}
			}
			if strings.Contains(out.String(), "not-a-real-password") {
				t.Error("the output shows the Redis password")
			}
		})
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// checkStderr: empty when want is "", else exactly one line containing want.
func checkStderr(t *testing.T, stderr, want string) {
	t.Helper()
	if want == "" {
		if stderr != "" {
			t.Errorf("stderr should be empty, got %q", stderr)
		}
		return
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, want) {
		t.Errorf("stderr should be one line containing %q, got %q", want, stderr)
	}
}
