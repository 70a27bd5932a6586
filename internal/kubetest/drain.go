package kubetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Drain cordons node and evicts the pods on it that selector matches in
// namespace ns, as `kubectl drain --pod-selector` does: one policy/v1
// Eviction per pod, all at once, each retried every second while the API
// server refuses it with 429 Too Many Requests (a PodDisruptionBudget
// allows no disruption now), until timeout; then it waits, within the same
// timeout, until every evicted pod is gone. It returns the pods evicted,
// sorted, and an error that wraps each eviction still refused at the end
// (apierrors.IsTooManyRequests(err) tells a budget's refusal).
func (c *Cluster) Drain(ctx context.Context, node, ns, selector string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Cordon(ctx, node); err != nil {
		return nil, err
	}
	list, err := c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s on node %s: %v", ns, node, err)
	}
	var (
		mu      sync.Mutex
		evicted []corev1.Pod
		errs    []error
		wg      sync.WaitGroup
	)
	for _, pod := range list.Items {
		if pod.DeletionTimestamp != nil {
			continue // already going, as kubectl drain skips it
		}
		wg.Go(func() {
			err := c.evict(ctx, pod)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				evicted = append(evicted, pod)
			}
		})
	}
	wg.Wait()
	var names []string
	for _, pod := range evicted {
		names = append(names, pod.Name)
		if err := c.waitPodGone(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	slices.Sort(names)
	return names, errors.Join(errs...)
}

// evict asks for one pod's eviction until it is granted, the pod is gone,
// or ctx ends while a budget refuses.
func (c *Cluster) evict(ctx context.Context, pod corev1.Pod) error {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
	for {
		err := c.Typed.PolicyV1().Evictions(pod.Namespace).Evict(ctx, ev)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsTooManyRequests(err):
			return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
		case <-time.After(time.Second):
		}
	}
}

// waitPodGone waits until this pod is deleted; a StatefulSet's new pod of
// the same name (another UID) does not count.
func (c *Cluster) waitPodGone(ctx context.Context, pod corev1.Pod) error {
	return c.waitFor(ctx, fmt.Sprintf("pod %s/%s deleted", pod.Namespace, pod.Name), func(ctx context.Context) (bool, error) {
		got, err := c.Typed.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && got.UID != pod.UID), nil
	})
}
