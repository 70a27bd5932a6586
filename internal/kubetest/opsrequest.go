package kubetest

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// OpsRequests is KubeBlocks 1.0's OpsRequest API.
var OpsRequests = schema.GroupVersionResource{Group: "operations.kubeblocks.io", Version: "v1alpha1", Resource: "opsrequests"}

// ServeOpsRequests makes the API server serve OpsRequests (an open-schema
// CRD of this package: testdata/kubeblocks/opsrequest-crd-1.0.yaml). No
// operator acts on them: a test plays it (PlaySwitchover).
func (e *Env) ServeOpsRequests(t testing.TB) {
	t.Helper()
	objs := OwnFixture(t, "opsrequest-crd-1.0.yaml")
	if _, err := e.Dynamic.Resource(crdGVR).Get(ctx(t), objs[0].GetName(), metav1.GetOptions{}); err == nil {
		return
	}
	e.createEstablished(t, ctx(t), objs[0], "1.0")
	e.waitServed(t, []schema.GroupVersionResource{OpsRequests}, nil)
}

// PlaySwitchover waits (within timeout) for a Switchover OpsRequest of
// this cluster, then does what KubeBlocks' operator would (Switchover) and
// marks the request Succeed. Returns how long until the primary Service
// reached the new primary.
func (k *KBCluster) PlaySwitchover(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	ops := k.c.Dynamic.Resource(OpsRequests).Namespace(k.Namespace)
	var req *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, timeout, true, func(c context.Context) (bool, error) {
		l, err := ops.List(c, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for i, o := range l.Items {
			cluster, _, _ := unstructured.NestedString(o.Object, "spec", "clusterName")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "type")
			phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
			if cluster == k.Name && kind == "Switchover" && phase == "" {
				req = &l.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("kubetest: no Switchover OpsRequest of %s/%s within %v", k.Namespace, k.Name, timeout)
	}
	t.Logf("kubetest: OpsRequest %s asks for a switchover of %s/%s", req.GetName(), k.Namespace, k.Name)
	took := k.Switchover(t)
	_ = unstructured.SetNestedField(req.Object, "Succeed", "status", "phase")
	if _, err := ops.UpdateStatus(ctx(t), req, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Logf("kubetest: marking OpsRequest %s Succeed: %v", req.GetName(), err)
	}
	return took
}

// PlayFailover waits (within timeout) for the primary pod to be deleted by
// someone else (a drill's crash), then plays KubeBlocks' failover as Crash
// does. Returns how long from the pod's deletion until the primary
// Service reached the new primary.
func (k *KBCluster) PlayFailover(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	p := k.Primary(t)
	pods := k.c.Typed.CoreV1().Pods(k.Namespace)
	old, err := pods.Get(ctx(t), k.Pod(p), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx(t), 50*time.Millisecond, timeout, true, func(c context.Context) (bool, error) {
		got, err := pods.Get(c, k.Pod(p), metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && (got.UID != old.UID || got.DeletionTimestamp != nil)), nil
	})
	if err != nil {
		t.Fatalf("kubetest: the primary %s/%s was not deleted within %v", k.Namespace, k.Pod(p), timeout)
	}
	began := time.Now()
	t.Logf("kubetest: %s/%s (primary of %s) was deleted: playing KubeBlocks' failover", k.Namespace, k.Pod(p), k.Name)
	k.waitGone(t, p)
	return k.failover(t, p, old.Status.PodIP, began)
}
