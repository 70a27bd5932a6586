package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/harborha/helm-harborha/internal/testutil"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A kubeconfig with two contexts on two (unreachable) servers.
const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1"}
- name: b
  cluster: {server: "https://127.0.0.2:2"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: ctx-a
  context: {cluster: a, user: u, namespace: from-context}
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-a
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clearHelmEnv isolates a test from the developer's environment.
func clearHelmEnv(t *testing.T) {
	for _, v := range []string{"HELM_NAMESPACE", "HELM_KUBECONTEXT", "HELM_KUBETOKEN", "HELM_KUBEAPISERVER", "HELM_KUBEASUSER", "HELM_KUBEASGROUPS", "HELM_KUBECAFILE", "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "HELM_KUBETLS_SERVER_NAME", "KUBECONFIG"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// Helm passes its flags to plugins as environment variables; a standalone
// run takes the same flags; a flag beats the environment.
func TestConnectReadsHelmEnvironmentAndFlags(t *testing.T) {
	kc := writeKubeconfig(t)
	tests := []struct {
		name                    string
		env                     map[string]string
		args                    []string
		wantNS, wantCtx, server string
	}{
		{"kubeconfig defaults", map[string]string{"KUBECONFIG": kc}, nil, "from-context", "ctx-a", "https://127.0.0.1:1"},
		{"helm plugin environment", map[string]string{"KUBECONFIG": kc, "HELM_NAMESPACE": "harbor", "HELM_KUBECONTEXT": "ctx-b"}, nil, "harbor", "ctx-b", "https://127.0.0.2:2"},
		{"HELM_KUBEAPISERVER overrides the server", map[string]string{"KUBECONFIG": kc, "HELM_KUBEAPISERVER": "https://10.1.2.3:6443"}, nil, "from-context", "ctx-a", "https://10.1.2.3:6443"},
		{"standalone flags", nil, []string{"--kubeconfig", kc, "-n", "ns1", "--kube-context", "ctx-b"}, "ns1", "ctx-b", "https://127.0.0.2:2"},
		{"flags beat the environment", map[string]string{"KUBECONFIG": kc, "HELM_NAMESPACE": "harbor", "HELM_KUBECONTEXT": "ctx-b"}, []string{"--namespace=ns2", "--kube-context=ctx-a"}, "ns2", "ctx-a", "https://127.0.0.1:1"},
		{"context without a namespace", map[string]string{"KUBECONFIG": kc, "HELM_KUBECONTEXT": "ctx-b"}, nil, "default", "ctx-b", "https://127.0.0.2:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearHelmEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := NewFlags()
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			f.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := Connect(f.Settings(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Namespace != tt.wantNS || c.Context != tt.wantCtx || c.Server != tt.server {
				t.Errorf("namespace, context, server = %q, %q, %q; want %q, %q, %q", c.Namespace, c.Context, c.Server, tt.wantNS, tt.wantCtx, tt.server)
			}
		})
	}
}

// Only the three connection flags are added, not all of Helm's globals.
func TestAddFlagsAddsOnlyConnectionFlags(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	NewFlags().AddFlags(fs)
	var got []string
	fs.VisitAll(func(f *pflag.Flag) { got = append(got, f.Name) })
	if strings.Join(got, ",") != "kube-context,kubeconfig,namespace" {
		t.Errorf("flags = %v", got)
	}
	if fs.ShorthandLookup("n") == nil {
		t.Error("-n is not the namespace shorthand")
	}
}

func TestConnectExplainsKubeconfigProblems(t *testing.T) {
	kc := writeKubeconfig(t)
	broken := filepath.Join(t.TempDir(), "broken")
	os.WriteFile(broken, []byte("clusters: [this is not: a kubeconfig"), 0o600)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown context lists the others", map[string]string{"KUBECONFIG": kc, "HELM_KUBECONTEXT": "nope"}, []string{`context "nope" does not exist`, "ctx-a, ctx-b"}},
		{"no configuration at all", map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "absent")}, []string{"no Kubernetes configuration found", "KUBECONFIG"}},
		{"unreadable file", map[string]string{"KUBECONFIG": broken}, []string{"cannot load the kubeconfig"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearHelmEnv(t)
			// Outside a pod: no in-cluster fallback.
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Connect(NewFlags().Settings(), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			testutil.OneLineWith(t, err.Error(), tt.want...)
		})
	}
}

// A real connection attempt to a closed port: the message names the
// server and the context, and says what to check.
func TestExplainUnreachableServerForReal(t *testing.T) {
	clearHelmEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	kc := filepath.Join(t.TempDir(), "config")
	os.WriteFile(kc, []byte(strings.ReplaceAll(twoContexts, "127.0.0.1:1", addr)), 0o600)
	t.Setenv("KUBECONFIG", kc)
	c, err := Connect(NewFlags().Settings(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Typed.CoreV1().Secrets("harbor").List(context.Background(), metav1.ListOptions{})
	got := c.Explain(err, Op{Verb: "list", Resource: "secrets", Namespace: "harbor"}).Error()
	testutil.OneLineWith(t, got, "cannot reach the Kubernetes API server", "https://"+addr, `context "ctx-a"`, "connection refused")
}

func TestExplain(t *testing.T) {
	c := &Client{Server: "https://10.0.0.1:6443", Context: "prod"}
	secrets := schema.GroupResource{Resource: "secrets"}
	forbidden := apierrors.NewForbidden(secrets, "", errors.New(`User "alice" cannot list resource "secrets" in API group "" in the namespace "harbor"`))
	tests := []struct {
		name string
		err  error
		op   Op
		want []string
	}{
		{"forbidden names verb, resource, user and the RBAC to add", forbidden, Op{Verb: "list", Resource: "secrets", Namespace: "harbor"},
			[]string{`user "alice" may not list secrets in namespace "harbor"`, `RBAC must allow verb "list" on resource "secrets" (API group "")`, "Role and RoleBinding", `context "prod"`}},
		{"forbidden cluster-scoped asks for a ClusterRole", apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no")), Op{Verb: "list", Resource: "nodes"},
			[]string{"the current user may not list nodes cluster-wide", "ClusterRole and ClusterRoleBinding"}},
		{"forbidden on a CRD names its group", apierrors.NewForbidden(schema.GroupResource{Group: "apps.kubeblocks.io", Resource: "clusters"}, "", errors.New("no")), Op{Verb: "list", Resource: "clusters", Group: "apps.kubeblocks.io", Namespace: "db"},
			[]string{"may not list clusters.apps.kubeblocks.io", `(API group "apps.kubeblocks.io")`}},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), Op{Verb: "list", Resource: "pods", Namespace: "x"},
			[]string{"rejected the credentials", "--kube-context", "https://10.0.0.1:6443"}},
		{"list of an unserved resource", apierrors.NewNotFound(schema.GroupResource{}, ""), Op{Verb: "list", Resource: "clusters", Group: "apps.kubeblocks.io", Namespace: "h"},
			[]string{"does not serve clusters.apps.kubeblocks.io"}},
		{"named object not found", apierrors.NewNotFound(secrets, "s1"), Op{Verb: "get", Resource: "secrets", Namespace: "h", Name: "s1"},
			[]string{`secrets "s1" not found in namespace "h"`}},
		{"server timeout", apierrors.NewServerTimeout(secrets, "list", 1), Op{Verb: "list", Resource: "secrets", Namespace: "h"},
			[]string{"did not answer in time", "try again"}},
		{"other status errors keep the server's message", apierrors.NewBadRequest("bad selector"), Op{Verb: "list", Resource: "pods", Namespace: "h"},
			[]string{"refused to list pods", "bad selector", "BadRequest"}},
		{"connection refused", &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, Op{Verb: "list", Resource: "pods"},
			[]string{"cannot reach the Kubernetes API server https://10.0.0.1:6443 (context \"prod\"): connection refused"}},
		{"unknown host", &url.Error{Op: "Get", URL: "https://k8s.invalid/api", Err: &net.DNSError{Name: "k8s.invalid", Err: "no such host"}}, Op{Verb: "list", Resource: "pods"},
			[]string{`the host name "k8s.invalid" does not resolve`}},
		{"untrusted certificate", &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/api", Err: x509.UnknownAuthorityError{}}, Op{Verb: "list", Resource: "pods"},
			[]string{"TLS verification", "certificate authority"}},
		{"deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), Op{Verb: "list", Resource: "pods"},
			[]string{"no answer before the deadline"}},
		{"interrupted", context.Canceled, Op{Verb: "list", Resource: "pods"}, []string{"interrupted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Explain(tt.err, tt.op)
			got := err.Error()
			testutil.OneLineWith(t, got, tt.want...)
			if !errors.Is(err, tt.err) && !errors.Is(err, context.Canceled) {
				t.Errorf("the original error is not kept for errors.Is")
			}
			if again := c.Explain(err, Op{Verb: "x", Resource: "y"}); again.Error() != got {
				t.Errorf("explaining twice changed the message to %q", again)
			}
		})
	}
	if c.Explain(nil, Op{}) != nil {
		t.Error("Explain(nil) is not nil")
	}
}
