package doctor

import (
	"context"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// Requests, for a release whose clusters live in Harbor's namespace:
//
//   - Harbor's side, concurrently: one list each of Deployments,
//     StatefulSets, Pods and ConfigMaps with the label selector
//     release=RELEASE (every object the chart renders carries it), one
//     list of the namespace's PodDisruptionBudgets (a budget selects pods
//     whatever its own labels, so none may be filtered out), one list of
//     Nodes (zones, cordons);
//   - one get per claim a multi-replica component mounts (the shared
//     claim: one, or two);
//   - one list of FailedScheduling Events, only when a pod is Pending
//     longer than --pending-after;
//   - per namespace holding a cluster Harbor uses, concurrently: one list
//     of KubeBlocks Services (label app.kubernetes.io/managed-by) and one
//     of Clusters (two before KubeBlocks 1.0); then one list of the
//     clusters' Pods and one of their primary Services' EndpointSlices,
//     both by label selector;
//   - one get of each running registry pod's log, its last 500 lines
//     (registry.go: a refused Redis login shows nowhere else).
//
// That is 13 requests for the usual setup of 2 registry replicas (14
// before KubeBlocks 1.0), whatever else the namespace holds.

// call is one request of a batch, with what to name in its error.
type call struct {
	op  kube.Op
	run func(ctx context.Context) error
}

// runAll sends a batch concurrently and returns the explained errors by
// resource; the checks that need a failed list are unchecked.
func runAll(ctx context.Context, c *kube.Client, calls []call) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, l := range calls {
		wg.Go(func() {
			if err := l.run(ctx); err != nil {
				mu.Lock()
				errs[l.op.Resource] = c.Explain(err, l.op)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

func list(verb, resource, group, ns string) kube.Op {
	return kube.Op{Verb: verb, Resource: resource, Group: group, Namespace: ns}
}

// listed is a call that lists one kind and keeps what it got.
func listed[L any](op kube.Op, do func(context.Context) (L, error), keep func(L)) call {
	return call{op, func(ctx context.Context) error {
		r, err := do(ctx)
		if err == nil {
			keep(r)
		}
		return err
	}}
}

// live is Harbor's side of the cluster.
type live struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	pods         []corev1.Pod
	budgets      []policyv1.PodDisruptionBudget
	configMaps   []corev1.ConfigMap
	nodes        []corev1.Node
	errs         map[string]error // by resource
}

// listHarbor lists Harbor's side: six requests, concurrently.
func listHarbor(ctx context.Context, c *kube.Client, ns, release string) *live {
	l := &live{}
	sel := metav1.ListOptions{LabelSelector: harbor.LabelRelease + "=" + release}
	apps, core, policy := c.Typed.AppsV1(), c.Typed.CoreV1(), c.Typed.PolicyV1()
	l.errs = runAll(ctx, c, []call{
		listed(list("list", "deployments", "apps", ns),
			func(ctx context.Context) (*appsv1.DeploymentList, error) { return apps.Deployments(ns).List(ctx, sel) },
			func(r *appsv1.DeploymentList) { l.deployments = r.Items }),
		listed(list("list", "statefulsets", "apps", ns),
			func(ctx context.Context) (*appsv1.StatefulSetList, error) {
				return apps.StatefulSets(ns).List(ctx, sel)
			},
			func(r *appsv1.StatefulSetList) { l.statefulSets = r.Items }),
		listed(list("list", "pods", "", ns),
			func(ctx context.Context) (*corev1.PodList, error) { return core.Pods(ns).List(ctx, sel) },
			func(r *corev1.PodList) { l.pods = sortedPods(r.Items) }),
		listed(list("list", "configmaps", "", ns),
			func(ctx context.Context) (*corev1.ConfigMapList, error) { return core.ConfigMaps(ns).List(ctx, sel) },
			func(r *corev1.ConfigMapList) { l.configMaps = r.Items }),
		listed(list("list", "poddisruptionbudgets", "policy", ns),
			func(ctx context.Context) (*policyv1.PodDisruptionBudgetList, error) {
				return policy.PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
			},
			func(r *policyv1.PodDisruptionBudgetList) { l.budgets = r.Items }),
		listed(list("list", "nodes", "", ""),
			func(ctx context.Context) (*corev1.NodeList, error) {
				return core.Nodes().List(ctx, metav1.ListOptions{})
			},
			func(r *corev1.NodeList) { l.nodes = r.Items }),
	})
	return l
}

// sortedPods orders pods by name: reports do not depend on the server's order.
func sortedPods(pods []corev1.Pod) []corev1.Pod {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// schedulingEvents lists the namespace's FailedScheduling events of pods
// (one request), newest last per pod.
func schedulingEvents(ctx context.Context, c *kube.Client, ns string) ([]corev1.Event, error) {
	l, err := c.Typed.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,reason=FailedScheduling"})
	if err != nil {
		return nil, c.Explain(err, list("list", "events", "", ns))
	}
	sort.SliceStable(l.Items, func(i, j int) bool { return eventTime(&l.Items[i]).Time.Before(eventTime(&l.Items[j]).Time) })
	return l.Items, nil
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(e *corev1.Event) metav1.Time {
	switch {
	case e.Series != nil:
		return metav1.Time(e.Series.LastObservedTime)
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time(e.EventTime)
	}
	return e.CreationTimestamp
}
