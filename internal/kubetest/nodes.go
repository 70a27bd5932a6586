package kubetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/harborha/helm-harborha/internal/kube"
)

// Node returns the simulated node called name, or fails the test.
func (c *Cluster) Node(t testing.TB, name string) SimNode {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("kubetest: no node %q in the simulated cluster", name)
	return SimNode{}
}

// ZoneOf is the zone of a node of the cluster ("" for another name).
func (c *Cluster) ZoneOf(node string) string {
	for _, n := range c.Nodes {
		if n.Name == node {
			return n.Zone
		}
	}
	return ""
}

// StopNode kills the kwok process that plays a node's kubelet: its
// heartbeat stops and nothing acts on its pods any more, as when the
// machine loses power. After --node-monitor-grace-period (10 s) the node
// lifecycle controller marks it Unknown, taints it unreachable and, 2 s
// later (the pods' toleration), evicts its pods; pods being deleted stay
// Terminating, as nothing confirms their end. StartNode brings it back.
func (c *Cluster) StopNode(t testing.TB, name string) {
	t.Helper()
	c.Node(t, name)
	c.mu.Lock()
	p := c.kwok[name]
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// StartNode restarts the kwok process of a stopped node and waits until
// the node is Ready again.
func (c *Cluster) StartNode(t testing.TB, name string) {
	t.Helper()
	c.Node(t, name)
	if err := c.startKwok(name); err != nil {
		t.Fatal(err)
	}
	if err := c.waitNodeReady(ctx(t), name, true); err != nil {
		t.Fatal(err)
	}
}

// WaitNodeReady waits until the node's Ready condition is True (ready) or
// anything else (not ready), for up to a minute.
func (c *Cluster) WaitNodeReady(t testing.TB, name string, ready bool) {
	t.Helper()
	c2, cancel := context.WithTimeout(ctx(t), time.Minute)
	defer cancel()
	if err := c.waitNodeReady(c2, name, ready); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) waitNodeReady(ctx context.Context, name string, ready bool) error {
	what := fmt.Sprintf("node %s Ready", name)
	if !ready {
		what = fmt.Sprintf("node %s not Ready", name)
	}
	return c.waitFor(ctx, what, func(ctx context.Context) (bool, error) {
		n, err := c.Typed.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return kube.NodeReady(n) == ready, nil
	})
}

// Cordon marks a node unschedulable (kubectl cordon); Uncordon undoes it.
func (c *Cluster) Cordon(ctx context.Context, node string) error {
	return c.setUnschedulable(ctx, node, true)
}

// Uncordon marks a node schedulable again (kubectl uncordon).
func (c *Cluster) Uncordon(ctx context.Context, node string) error {
	return c.setUnschedulable(ctx, node, false)
}

func (c *Cluster) setUnschedulable(ctx context.Context, node string, on bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	if _, err := c.Typed.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("setting node %s unschedulable=%t: %v", node, on, err)
	}
	return nil
}

// Taint adds a taint to a node (kubectl taint), replacing one with the
// same key and effect. The node lifecycle controller writes taints too:
// conflicts are retried.
func (c *Cluster) Taint(ctx context.Context, node string, taint corev1.Taint) error {
	return c.updateTaints(ctx, node, func(ts []corev1.Taint) []corev1.Taint {
		ts = slices.DeleteFunc(ts, func(x corev1.Taint) bool { return x.Key == taint.Key && x.Effect == taint.Effect })
		return append(ts, taint)
	})
}

// Untaint removes every taint with key from a node.
func (c *Cluster) Untaint(ctx context.Context, node, key string) error {
	return c.updateTaints(ctx, node, func(ts []corev1.Taint) []corev1.Taint {
		return slices.DeleteFunc(ts, func(x corev1.Taint) bool { return x.Key == key })
	})
}

func (c *Cluster) updateTaints(ctx context.Context, node string, change func([]corev1.Taint) []corev1.Taint) error {
	nodes := c.Typed.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = change(n.Spec.Taints)
		_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("changing the taints of node %s: %v", node, err)
	}
	return nil
}
