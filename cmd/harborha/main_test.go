package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/command"
)

const minimalDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {app: harbor, release: myharbor, component: core}}
  template:
    metadata: {labels: {app: harbor, release: myharbor, component: core}}
    spec: {containers: [{name: core, image: x}]}
`

// TestPostRenderCommand runs the command as the binary does: exit status,
// stdout only on success, one line on stderr for each error.
func TestPostRenderCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		stdout   string // substring; "" means stdout must be empty
		stderrRe string // substring of the single stderr line; "" means no stderr
	}{
		{"post-renders", []string{"post-render"}, minimalDeployment, 0, "replicas: 2", ""},
		{"Helm 3 args through $HELM_BIN", []string{"harborha", "post-render", "--replicas=3"}, minimalDeployment, 0, "replicas: 3", ""},
		{"Helm 4 args repeated", []string{"post-render", "post-render", "--anti-affinity=none"}, minimalDeployment, 0, "replicas: 2", ""},
		{"empty stdin", []string{"post-render"}, "", 1, "", "harborha post-render: no Kubernetes objects on stdin"},
		{"malformed YAML", []string{"post-render"}, "kind: [", 1, "", "harborha post-render: document 1: not valid YAML"},
		{"bad flag value", []string{"post-render", "--replicas", "core=x"}, minimalDeployment, 1, "", `invalid argument "core=x" for "--replicas" flag`},
		{"unknown flag", []string{"post-render", "--nope"}, minimalDeployment, 1, "", "unknown flag: --nope"},
		{"positional argument", []string{"post-render", "file.yaml"}, minimalDeployment, 1, "", `unexpected argument "file.yaml"`},
		{"unknown command", []string{"frobnicate"}, "", 2, "", `harborha: unknown command "frobnicate"`},
		{"help", []string{"post-render", "--help"}, "", 0, "--shared-pvc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), command.Streams{In: strings.NewReader(tt.stdin), Out: &out, Err: &errb}, tt.args)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if tt.stdout == "" && out.Len() > 0 {
				t.Errorf("stdout not empty: %q", out.String())
			}
			if tt.stdout != "" && !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out.String())
			}
			lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
			if tt.stderrRe == "" && errb.Len() > 0 {
				t.Errorf("unexpected stderr %q", errb.String())
			}
			if tt.stderrRe != "" && (len(lines) != 1 || !strings.Contains(lines[0], tt.stderrRe)) {
				t.Errorf("stderr %q: want one line containing %q", errb.String(), tt.stderrRe)
			}
		})
	}
}
