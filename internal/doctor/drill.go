package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
)

// DrillResult is one component's part of the failover drill: the pod
// deleted, how long until the component had its Ready count again, and
// the fewest Ready pods it had meanwhile (0 means it was down).
type DrillResult struct {
	Component string  `json:"component"`
	Pod       string  `json:"pod,omitempty"`
	Desired   int     `json:"desired"`
	MinReady  int     `json:"minReady"`
	Seconds   float64 `json:"seconds"`
	Status    Status  `json:"status"`
	Message   string  `json:"message"`
}

// drillTarget is a component as the checks saw it.
type drillTarget struct {
	component string
	selector  map[string]string
	desired   int
	ready     int
}

// drillable: the drill deletes a pod only where the others keep serving.
func (t drillTarget) drillable() bool { return t.desired >= 2 && t.ready >= t.desired }

// confirm asks before the drill deletes anything, unless --yes; without a
// terminal to ask on, it refuses.
func (o *Options) confirm(r *Report, s command.Streams) error {
	var names []string
	for _, t := range r.targets {
		if t.drillable() {
			names = append(names, t.component)
		}
	}
	if o.Yes || len(names) == 0 {
		return nil
	}
	isTerminal := o.isTerminal
	if isTerminal == nil {
		isTerminal = terminal
	}
	if !isTerminal(s.In) {
		return fmt.Errorf("--drill deletes one pod of each of %s: confirm on a terminal, or pass --yes", strings.Join(names, ", "))
	}
	fmt.Fprintf(s.Err, "doctor --drill deletes one pod of each of %s (release %s, namespace %s), one after another, waiting for each to be replaced. Continue? [y/N] ",
		strings.Join(names, ", "), r.Release, r.Namespace)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return errors.New("drill cancelled: nothing was deleted")
}

func terminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// drill deletes one pod of each component in turn and follows the
// component's pods until it is back at its Ready count.
func (o *Options) drill(ctx context.Context, c *kube.Client, r *Report) []DrillResult {
	var out []DrillResult
	for _, t := range r.targets {
		res := DrillResult{Component: t.component, Desired: t.desired, MinReady: t.ready}
		if !t.drillable() {
			res.Status = Warning
			res.Message = fmt.Sprintf("not drilled: %d of %d Ready; the drill deletes a pod only where the others keep serving", t.ready, t.desired)
		} else {
			o.drillOne(ctx, c, t, &res)
		}
		out = append(out, res)
	}
	return out
}

// drillOne deletes one Ready pod of the component and waits, within
// --timeout, until it has t.desired Ready pods again.
func (o *Options) drillOne(ctx context.Context, c *kube.Client, t drillTarget, res *DrillResult) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ns := c.Namespace
	f := &follower{pods: c.Typed.CoreV1().Pods(ns), selector: labels.SelectorFromSet(t.selector)}
	fail := func(err error, op kube.Op) {
		res.Status, res.Message = Unchecked, c.Explain(err, op).Error()
	}
	if err := f.start(ctx); err != nil {
		fail(err, list("watch", "pods", "", ns))
		return
	}
	defer f.stop()
	victim := f.firstReady()
	if victim == nil {
		res.Status, res.Message = Unchecked, "no Ready pod to delete any more"
		return
	}
	res.Pod = victim.Name
	began := time.Now()
	if err := f.pods.Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &victim.UID}}); err != nil {
		fail(err, kube.Op{Verb: "delete", Resource: "pods", Namespace: ns, Name: victim.Name})
		return
	}
	fmt.Fprintf(o.progressOut(), "harborha doctor: drill: %s: deleted pod %s, waiting up to %s for %d Ready pods\n", t.component, victim.Name, o.Timeout, t.desired)
	f.ready[victim.UID] = false // it stops serving now
	minReady, err := f.until(ctx, t.desired, victim.UID)
	res.Seconds = time.Since(began).Round(10 * time.Millisecond).Seconds()
	res.MinReady = minReady
	switch {
	case err != nil && ctx.Err() != nil:
		res.Status, res.Message = Finding, fmt.Sprintf("deleted %s: not back at %d Ready pods within %s (fewest Ready meanwhile: %d)", victim.Name, t.desired, o.Timeout, minReady)
	case err != nil:
		fail(err, list("watch", "pods", "", ns))
	case minReady == 0:
		res.Status, res.Message = Finding, fmt.Sprintf("deleted %s: %s had 0 Ready pods before it was back at %d after %.2fs: it was down", victim.Name, t.component, t.desired, res.Seconds)
	default:
		res.Status, res.Message = OK, fmt.Sprintf("deleted %s: %d Ready pods again after %.2fs, never fewer than %d", victim.Name, t.desired, res.Seconds, minReady)
	}
	fmt.Fprintf(o.progressOut(), "harborha doctor: drill: %s: %s\n", t.component, res.Message)
}

func (o *Options) progressOut() io.Writer {
	if o.progress == nil {
		return io.Discard
	}
	return o.progress
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

// writeDrill writes the drill's results under the checks.
func writeDrill(w io.Writer, results []DrillResult) {
	if len(results) == 0 {
		return
	}
	io.WriteString(w, "\nDrill: one pod of each component deleted in turn\n")
	cw := 0
	for _, d := range results {
		cw = max(cw, len(d.Component))
	}
	for _, d := range results {
		fmt.Fprintf(w, "  %-*s  %-*s  %s\n", len(Unchecked), d.Status, cw, d.Component, d.Message)
	}
}
