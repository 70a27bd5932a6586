package kubetest

import (
	"net/http"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequestCounter counts the HTTP requests a client sends: plug Wrap into
// rest.Config.Wrap (or kube.Options.WrapTransport).
type RequestCounter struct{ n atomic.Int64 }

// Wrap returns a RoundTripper that counts, then delegates to rt.
func (c *RequestCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return countingRT{c, rt}
}

// Count is the number of requests so far.
func (c *RequestCounter) Count() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *RequestCounter) Reset() { c.n.Store(0) }

type countingRT struct {
	c  *RequestCounter
	rt http.RoundTripper
}

func (r countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.c.n.Add(1)
	return r.rt.RoundTrip(req)
}

// EnsureNode creates a Ready node with an InternalIP (nodes are
// cluster-scoped: created once, shared by the package's tests).
func (e *Env) EnsureNode(t testing.TB, name, internalIP string) {
	t.Helper()
	c := ctx(t)
	nodes := e.Typed.CoreV1().Nodes()
	n, err := nodes.Create(c, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return
	}
	if err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: internalIP}, {Type: corev1.NodeHostName, Address: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := nodes.UpdateStatus(c, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("writing the status of node %s: %v", name, err)
	}
}
