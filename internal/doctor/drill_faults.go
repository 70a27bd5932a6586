package doctor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
)

// clusterFaults are the faults of --drill=database or redis: one per
// KubeBlocks cluster of that engine Harbor uses. The OpsRequest API is
// looked up first, so that a server without it fails the command before
// anything is broken.
func (o *Options) clusterFaults(c *kube.Client, r *Report, kind string) ([]fault, error) {
	engine := discover.PostgreSQL
	if kind == drillRedis {
		engine = discover.Redis
	}
	var targets []*target
	for _, t := range r.clusters {
		if t.cluster.Engine == engine {
			targets = append(targets, t)
		}
	}
	base := clusterFault{c: c, kind: kind, crash: o.Crash}
	if len(targets) == 0 {
		f := base
		f.missing = fmt.Errorf("release %s uses no KubeBlocks %s cluster doctor could find (see the %s checks)", r.Release, engine.Title(), engine.Title())
		return []fault{&f}, nil
	}
	if !o.Crash {
		api, err := servedOpsAPI(c)
		if err != nil {
			return nil, err
		}
		base.api = api
	}
	out := make([]fault, len(targets))
	for i, t := range targets {
		f := base
		f.t = t
		out[i] = &f
	}
	return out, nil
}

// clusterFault switches a KubeBlocks cluster's primary over (an
// OpsRequest) or deletes it (--crash), then follows the role label to
// another pod and the primary Service's endpoint to that pod.
type clusterFault struct {
	c       *kube.Client
	kind    string // drillDatabase or drillRedis
	crash   bool
	api     opsAPI
	t       *target
	missing error // no cluster of the engine to drill

	old    *corev1.Pod
	res    *ClusterFault
	role   *watcher // the primary label on another pod
	follow *watcher // the Service's one endpoint away from the old primary
	stop   context.CancelFunc
	// What the watchers saw, read once they are done.
	newPrimary, endpoint string
}

func (f *clusterFault) name() string {
	if f.crash {
		return f.kind + "/crash"
	}
	return f.kind + "/switchover"
}

func (f *clusterFault) describe() (string, string) {
	if f.t == nil {
		return "", ""
	}
	if f.crash {
		return "deletes the primary pod (no grace period) of", f.t.subject()
	}
	return "switches over (OpsRequest) the primary of", f.t.subject()
}

// selector picks the pods of the cluster's data component.
func (f *clusterFault) selector() string {
	cl := f.t.cluster
	return fmt.Sprintf("%s=%s,%s=%s", discover.LabelInstance, cl.Name, discover.LabelComponent, cl.Component)
}

func (f *clusterFault) prepare(ctx context.Context, res *DrillResult) (string, error) {
	if f.missing != nil {
		return "", f.missing
	}
	cl, ns := f.t.cluster, f.t.view.ns
	f.res = &ClusterFault{Cluster: cl.Ref()}
	res.ClusterFault = f.res
	if f.t.primaryErr != nil {
		return "", f.t.primaryErr
	}
	l, err := f.c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: f.selector()})
	if err != nil {
		return "", f.c.Explain(err, list("list", "pods", "", ns))
	}
	primaries := primaryPods(l.Items, "")
	switch {
	case len(primaries) != 1:
		return "", fmt.Errorf("%d pods of cluster %s component %s carry %s=%s: the drill needs exactly one (a failover in progress?)", len(primaries), cl.Ref(), cl.Component, discover.LabelRole, discover.RolePrimary)
	case len(l.Items) < 2:
		return fmt.Sprintf("cluster %s has one pod: no secondary takes over", cl.Ref()), nil
	}
	f.old = primaries[0]
	f.res.OldPrimary = f.old.Name
	f.watch()
	return "", nil
}

// watch starts both watchers before the fault, so that no move goes
// unseen between a list and a watch.
func (f *clusterFault) watch() {
	ctx, stop := context.WithCancel(context.Background())
	f.stop = stop
	ns, svc, old := f.t.view.ns, f.t.primary.Name, f.old
	pods := f.c.Typed.CoreV1().Pods(ns)
	f.role = watchUntil(ctx, listWatch(pods.List, pods.Watch), f.selector(), func(objs []runtime.Object) bool {
		ps := primaryPods(typed[*corev1.Pod](objs), old.UID)
		if len(ps) == 1 {
			f.newPrimary = ps[0].Name
		}
		return len(ps) == 1
	})
	eps := f.c.Typed.DiscoveryV1().EndpointSlices(ns)
	f.follow = watchUntil(ctx, listWatch(eps.List, eps.Watch), discoveryv1.LabelServiceName+"="+svc, func(objs []runtime.Object) bool {
		eps := readyTargets(typed[*discoveryv1.EndpointSlice](objs))
		if len(eps) == 1 && !sameTarget(eps[0], old) {
			f.endpoint = eps[0].Name
			return true
		}
		return false
	})
}

func (f *clusterFault) inject(ctx context.Context) error {
	ns := f.t.view.ns
	if f.crash {
		zero := int64(0)
		err := f.c.Typed.CoreV1().Pods(ns).Delete(ctx, f.old.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &f.old.UID}})
		return f.c.Explain(err, kube.Op{Verb: "delete", Resource: "pods", Namespace: ns, Name: f.old.Name})
	}
	name, err := f.api.create(ctx, f.c, f.api.switchover(ns, f.t.cluster.Name, f.t.cluster.Component, f.old.Name))
	f.res.OpsRequest = name
	return err
}

func (f *clusterFault) await(ctx context.Context, at time.Time, res *DrillResult) {
	svc := f.t.primary.Name
	if !f.wait(ctx, f.role) {
		res.Status, res.Message = Finding, fmt.Sprintf("%s: no other pod labelled %s=%s within %s%s", f.did(), discover.LabelRole, discover.RolePrimary, timeoutOf(ctx, at), f.opsPhase())
		return
	}
	f.res.NewPrimary, f.res.RoleMovedSeconds = f.newPrimary, seconds(at, f.role.at)
	if !f.wait(ctx, f.follow) {
		res.Status, res.Message = Finding, fmt.Sprintf("%s: %s labelled primary after %.2fs, but Service %s had no single ready endpoint away from %s within %s", f.did(), f.newPrimary, f.res.RoleMovedSeconds, svc, f.old.Name, timeoutOf(ctx, at))
		return
	}
	f.res.ServiceFollowedSeconds = seconds(at, f.follow.at)
	res.Seconds = max(f.res.RoleMovedSeconds, f.res.ServiceFollowedSeconds)
	if f.endpoint != f.newPrimary {
		res.Status, res.Message = Finding, fmt.Sprintf("%s: %s labelled primary after %.2fs, but Service %s's endpoint is %s", f.did(), f.newPrimary, f.res.RoleMovedSeconds, svc, f.endpoint)
		return
	}
	res.Status, res.Message = OK, fmt.Sprintf("%s: %s labelled primary after %.2fs, Service %s at it after %.2fs", f.did(), f.newPrimary, f.res.RoleMovedSeconds, svc, f.res.ServiceFollowedSeconds)
}

// did says what was done: "OpsRequest x switched over primary p".
func (f *clusterFault) did() string {
	if f.crash {
		return "deleted primary " + f.old.Name
	}
	return fmt.Sprintf("OpsRequest %s to switch over primary %s", f.res.OpsRequest, f.old.Name)
}

// opsPhase is what the OpsRequest says, for a switchover that did not
// happen.
func (f *clusterFault) opsPhase() string {
	if f.crash {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p := f.api.phase(ctx, f.c, f.t.view.ns, f.res.OpsRequest); p != "" {
		return " (OpsRequest " + p + ")"
	}
	return ""
}

// wait is whether w was done before ctx.
func (f *clusterFault) wait(ctx context.Context, w *watcher) bool {
	select {
	case <-w.done:
		return w.err == nil
	case <-ctx.Done():
		return false
	}
}

func (f *clusterFault) close() {
	if f.stop != nil {
		f.stop()
		<-f.role.done
		<-f.follow.done
	}
}

// primaryPods are the pods labelled primary and not being deleted, other
// than the one of UID except.
func primaryPods(pods []corev1.Pod, except types.UID) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Labels[discover.LabelRole] == discover.RolePrimary && p.DeletionTimestamp == nil && p.UID != except {
			out = append(out, p)
		}
	}
	return out
}

// readyTargets are the pods behind the ready endpoints of slices.
func readyTargets(slices []discoveryv1.EndpointSlice) []corev1.ObjectReference {
	var out []corev1.ObjectReference
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if (ep.Conditions.Ready == nil || *ep.Conditions.Ready) && ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				out = append(out, *ep.TargetRef)
			}
		}
	}
	return out
}

// sameTarget: the endpoint is the pod (by UID where the endpoint has one:
// a pod recreated under the old name is another pod).
func sameTarget(ref corev1.ObjectReference, p *corev1.Pod) bool {
	if ref.UID != "" {
		return ref.UID == p.UID
	}
	return ref.Name == p.Name
}

// watcher is a condition followed in the background: done closes when it
// holds (at says when) or the watch ends (err).
type watcher struct {
	done chan struct{}
	at   time.Time
	err  error
}

// source lists and watches one kind with a label selector.
type source struct {
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// listWatch adapts a typed client's List and Watch.
func listWatch[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) source {
	return source{
		list:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) },
		watch: watchFn,
	}
}

// watchUntil follows the objects of src that selector picks, through a
// list and then a watch from its version (a watch the server ends starts
// again from a new list), until holds is true of all of them together.
func watchUntil(ctx context.Context, src source, selector string, holds func(objs []runtime.Object) bool) *watcher {
	w := &watcher{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			ok, err := followOnce(ctx, src, selector, holds)
			switch {
			case ok:
				w.at = time.Now()
				return
			case err != nil:
				w.err = err
				return
			}
		}
	}()
	return w
}

// followOnce lists, then watches until holds, an error, or the watch ends
// (false, nil: list again).
func followOnce(ctx context.Context, src source, selector string, holds func([]runtime.Object) bool) (bool, error) {
	l, err := src.list(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return false, err
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		return false, err
	}
	state := map[types.UID]runtime.Object{}
	for _, o := range items {
		state[uidOf(o)] = o
	}
	if holds(slices.Collect(maps.Values(state))) {
		return true, nil
	}
	rv, _ := meta.NewAccessor().ResourceVersion(l)
	wi, err := src.watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv})
	if err != nil {
		return false, err
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, open := <-wi.ResultChan():
			if !open || ev.Type == watch.Error {
				return false, nil
			}
			if ev.Type == watch.Deleted {
				delete(state, uidOf(ev.Object))
			} else {
				state[uidOf(ev.Object)] = ev.Object
			}
			if holds(slices.Collect(maps.Values(state))) {
				return true, nil
			}
		}
	}
}

func uidOf(o runtime.Object) types.UID {
	if m, err := meta.Accessor(o); err == nil {
		return m.GetUID()
	}
	return ""
}

// typed are objects of one type as values.
func typed[P interface{ *T }, T any](objs []runtime.Object) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if p, ok := any(o).(P); ok {
			out = append(out, *p)
		}
	}
	return out
}
