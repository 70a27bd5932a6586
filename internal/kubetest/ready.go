package kubetest

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/harborha/helm-harborha/internal/kube"
)

// ReadyWatch follows every change of the pods of a namespace that a label
// selector matches, through a watch (so that no dip between two polls goes
// unseen), and keeps, per value of a grouping label (Harbor's
// "component"), the number of Ready pods now and the fewest since the
// watch began or since Reset.
type ReadyWatch struct {
	groupBy string
	store   cache.Store

	mu       sync.Mutex
	tracking bool
	now, min map[string]int
}

// WatchReady starts a ReadyWatch; the test's cleanup stops it.
func (c *Cluster) WatchReady(t testing.TB, ns, selector, groupBy string) *ReadyWatch {
	t.Helper()
	f := informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := f.Core().V1().Pods().Informer()
	w := &ReadyWatch{groupBy: groupBy, store: inf.GetStore(), now: map[string]int{}, min: map[string]int{}}
	on := func(any) { w.update() }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: on, DeleteFunc: on, UpdateFunc: func(_, o any) { on(o) },
	}); err != nil {
		t.Fatal(err)
	}
	c2, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(c2.Done())
	if !cache.WaitForCacheSync(ctx(t).Done(), inf.HasSynced) {
		t.Fatalf("kubetest: the watch of pods %q in %s did not sync", selector, ns)
	}
	w.Reset()
	return w
}

// update recounts the Ready pods per group from the informer's store.
func (w *ReadyWatch) update() {
	counts := map[string]int{}
	for _, o := range w.store.List() {
		p := o.(*corev1.Pod)
		g := p.Labels[w.groupBy]
		n := counts[g] // a group whose pods are all unready counts 0
		if kube.PodReady(p) {
			n++
		}
		counts[g] = n
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for g := range w.now {
		if _, ok := counts[g]; !ok {
			counts[g] = 0 // every pod of the group is gone
		}
	}
	w.now = counts
	if !w.tracking {
		return
	}
	for g, n := range counts {
		if m, ok := w.min[g]; !ok || n < m {
			w.min[g] = n
		}
	}
}

// Reset starts a new minimum from the current counts.
func (w *ReadyWatch) Reset() {
	w.mu.Lock()
	w.tracking = false
	w.mu.Unlock()
	w.update()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.min = maps.Clone(w.now)
	w.tracking = true
}

// Now is the number of Ready pods per group.
func (w *ReadyWatch) Now() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.now)
}

// Min is the fewest Ready pods per group since the watch began or Reset.
func (w *ReadyWatch) Min() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.min)
}

// Wait waits until cond holds for the current counts, or fails the test
// after timeout with the counts it saw last.
func (w *ReadyWatch) Wait(t testing.TB, timeout time.Duration, what string, cond func(ready map[string]int) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(w.Now()), nil
	})
	if err != nil {
		t.Fatalf("waiting %s for %s: Ready pods now %v", timeout, what, w.Now())
	}
}

// AtLeast is a Wait condition: every group has at least n Ready pods, and
// there are the groups named (none missing).
func AtLeast(n int, groups ...string) func(map[string]int) bool {
	return func(ready map[string]int) bool {
		for _, g := range groups {
			if ready[g] < n {
				return false
			}
		}
		for _, r := range ready {
			if r < n {
				return false
			}
		}
		return true
	}
}
