package doctor

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harborha/helm-harborha/internal/kube"
)

// drillTarget is a component as the checks saw it.
type drillTarget struct {
	component string
	selector  map[string]string
	desired   int
	ready     int
}

// drillable: the drill deletes a pod only where the others keep serving.
func (t drillTarget) drillable() bool { return t.desired >= 2 && t.ready >= t.desired }

// podFault deletes one Ready pod of a component and follows the
// component's pods until it has its Ready count again.
type podFault struct {
	c      *kube.Client
	t      drillTarget
	f      *follower
	victim *corev1.Pod
	res    *PodFault
}

func (p *podFault) name() string { return drillPod + "/" + p.t.component }

func (p *podFault) describe() (string, string) {
	if !p.t.drillable() {
		return "", ""
	}
	return "deletes one pod of each of", p.t.component
}

func (p *podFault) prepare(ctx context.Context, res *DrillResult) (string, error) {
	p.res = &PodFault{Component: p.t.component, Desired: p.t.desired, MinReady: p.t.ready}
	res.PodFault = p.res
	if !p.t.drillable() {
		return fmt.Sprintf("%d of %d Ready; the drill deletes a pod only where the others keep serving", p.t.ready, p.t.desired), nil
	}
	ns := p.c.Namespace
	p.f = &follower{pods: p.c.Typed.CoreV1().Pods(ns), selector: labels.SelectorFromSet(p.t.selector)}
	if err := p.f.start(ctx); err != nil {
		return "", p.c.Explain(err, list("watch", "pods", "", ns))
	}
	if p.victim = p.f.firstReady(); p.victim == nil {
		return "", fmt.Errorf("no Ready pod of %s to delete any more", p.t.component)
	}
	p.res.Pod = p.victim.Name
	return "", nil
}

func (p *podFault) inject(ctx context.Context) error {
	err := p.f.pods.Delete(ctx, p.victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.victim.UID}})
	if err != nil {
		return p.c.Explain(err, kube.Op{Verb: "delete", Resource: "pods", Namespace: p.c.Namespace, Name: p.victim.Name})
	}
	p.f.ready[p.victim.UID] = false // it stops serving now
	return nil
}

func (p *podFault) await(ctx context.Context, at time.Time, res *DrillResult) {
	minReady, err := p.f.until(ctx, p.t.desired, p.victim.UID)
	res.Seconds, p.res.MinReady = seconds(at, time.Now()), minReady
	name, want := p.victim.Name, p.t.desired
	switch {
	case err != nil && ctx.Err() != nil:
		res.Status, res.Message = Finding, fmt.Sprintf("deleted %s: not back at %d Ready pods within %s (fewest Ready meanwhile: %d)", name, want, timeoutOf(ctx, at), minReady)
	case err != nil:
		res.Status, res.Message = Unchecked, p.c.Explain(err, list("watch", "pods", "", p.c.Namespace)).Error()
	case minReady == 0:
		res.Status, res.Message = Finding, fmt.Sprintf("deleted %s: %s had 0 Ready pods before it was back at %d after %.2fs: it was down", name, p.t.component, want, res.Seconds)
	default:
		res.Status, res.Message = OK, fmt.Sprintf("deleted %s: %d Ready pods again after %.2fs, never fewer than %d", name, want, res.Seconds, minReady)
	}
}

func (p *podFault) close() {
	if p.f != nil {
		p.f.stop()
	}
}

// timeoutOf is the time ctx allowed from at (--timeout).
func timeoutOf(ctx context.Context, at time.Time) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return d.Sub(at).Round(100 * time.Millisecond)
	}
	return 0
}

// podClient is what the drill needs of the pods API.
type podClient interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// follower keeps, through a list and then a watch (so that no dip between
// two polls goes unseen), whether each pod of a component is Ready.
type follower struct {
	pods     podClient
	selector labels.Selector // the server filters by it; so do we, for watches that do not
	w        watch.Interface
	ready    map[types.UID]bool
	list     []corev1.Pod
}

// start lists the pods and watches them from that list's version.
func (f *follower) start(ctx context.Context) error {
	l, err := f.pods.List(ctx, metav1.ListOptions{LabelSelector: f.selector.String()})
	if err != nil {
		return err
	}
	f.ready, f.list = map[types.UID]bool{}, sortedPods(l.Items)
	f.list = slices.DeleteFunc(f.list, func(p corev1.Pod) bool { return !f.selector.Matches(labels.Set(p.Labels)) })
	for i := range f.list {
		f.ready[f.list[i].UID] = kube.PodReady(&f.list[i])
	}
	f.w, err = f.pods.Watch(ctx, metav1.ListOptions{LabelSelector: f.selector.String(), ResourceVersion: l.ResourceVersion})
	return err
}

func (f *follower) stop() {
	if f.w != nil {
		f.w.Stop()
	}
}

func (f *follower) firstReady() *corev1.Pod {
	for i := range f.list {
		if f.ready[f.list[i].UID] {
			return &f.list[i]
		}
	}
	return nil
}

func (f *follower) count() int {
	n := 0
	for _, r := range f.ready {
		if r {
			n++
		}
	}
	return n
}

// until follows the pods until want are Ready and the victim is not one of
// them, and returns the fewest Ready seen. A watch the server ends is
// started again from a new list.
func (f *follower) until(ctx context.Context, want int, victim types.UID) (int, error) {
	minReady := f.count()
	for f.count() < want || f.ready[victim] {
		select {
		case <-ctx.Done():
			return minReady, ctx.Err()
		case ev, ok := <-f.w.ResultChan():
			if !ok || ev.Type == watch.Error {
				f.stop()
				if err := f.start(ctx); err != nil {
					return minReady, err
				}
				continue
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || !f.selector.Matches(labels.Set(p.Labels)) {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(f.ready, p.UID)
			} else {
				f.ready[p.UID] = kube.PodReady(p)
			}
		}
		minReady = min(minReady, f.count())
	}
	return minReady, nil
}
