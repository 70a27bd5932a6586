package helmrun

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/pipeline"
)

// countNodeLists counts the requests that list Nodes.
type countNodeLists struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countNodeLists) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes" {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// TestInputResolvedOnce: on the real kube-apiserver, install (preflight,
// discovery, the generated Secrets) and template read --config once, and
// list the Nodes once: preflight's list gives discovery its node address.
func TestInputResolvedOnce(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "spine")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	for i, ip := range []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"} {
		name := "spine-node-" + string(rune('a'+i))
		env.EnsureNode(t, name, ip)
		untaint(t, env, name) // the API server taints a new node not-ready; these are Ready
	}
	config := filepath.Join(t.TempDir(), "knobs.yaml")
	if err := os.WriteFile(config, []byte("replicas: 2\nantiAffinity: hard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action string
		args   []string
	}{
		{"install", []string{"--no-bootstrap"}},
		{"template", nil},
	} {
		t.Run(tc.action, func(t *testing.T) {
			o, runs := newOptions(t, tc.action, 3)
			var reads, lists atomic.Int64
			o.Flags.Knobs.ReadFile = func(name string) ([]byte, error) { reads.Add(1); return os.ReadFile(name) }
			args := append([]string{"myharbor", "goharbor/harbor", "-n", ns, "--kubeconfig", env.Kubeconfig, "--config", config}, tc.args...)
			if err := o.Complete(args); err != nil {
				t.Fatal(err)
			}
			c, err := kube.Connect(o.input.Cluster.Settings(), kube.Options{WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
				return countNodeLists{rt: rt, n: &lists}
			}})
			if err != nil {
				t.Fatal(err)
			}
			o.input.Cluster = pipeline.ClusterOf(c)
			var stderr bytes.Buffer
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(t.Context(), command.Streams{Out: &bytes.Buffer{}, Err: &stderr}); err != nil || len(*runs) != 1 {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if n := reads.Load(); n != 1 {
				t.Errorf("--config read %d times, want once", n)
			}
			if n := lists.Load(); n != 1 {
				t.Errorf("Nodes listed %d times, want once", n)
			}
			if r := (*runs)[0]; !strings.Contains(string(r.Overlay), "externalURL: http://") {
				t.Errorf("the overlay's externalURL is not a node's address:\n%s", r.Overlay)
			}
		})
	}
}

func untaint(t *testing.T, env *kubetest.Env, name string) {
	t.Helper()
	n, err := env.Typed.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = nil
	if _, err := env.Typed.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
