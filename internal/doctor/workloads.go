package doctor

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// workloads runs the per-component checks, components in the chart's
// order: replicas, nodes and zones, budget, claims, then Pending pods.
func (k *checker) workloads(ctx context.Context) {
	comps := k.rel.Components()
	sort.SliceStable(comps, func(i, j int) bool {
		return slices.Index(harbor.Components, comps[i].Component) < slices.Index(harbor.Components, comps[j].Component)
	})
	claims := k.claims(ctx, comps)
	for _, w := range comps {
		pods := podsOf(w, k.l.pods)
		ready := k.replicas(w, pods)
		k.r.targets = append(k.r.targets, drillTarget{component: w.Component, selector: w.Selector(), desired: int(w.Replicas()), ready: ready})
		k.spread(w, pods)
		k.budget(w)
		k.claimChecks(w, claims)
	}
	k.pending(ctx, comps)
	if err := k.l.errs["nodes"]; err != nil {
		k.r.unchecked("nodes", "zones", err)
	}
	for _, w := range k.rel.Internals() {
		store, _ := harbor.InternalStore(w.Component)
		k.r.finding(store, "cluster", "use an external highly available "+store+" (helm harborha values writes database.type and redis.type external for KubeBlocks clusters)",
			"the chart's internal %s (%s %s) is in use: a single pod, not highly available", store, w.Kind, w.Name())
	}
}

// podsOf are the pods the workload's selector selects.
func podsOf(w *harbor.Workload, pods []corev1.Pod) []corev1.Pod {
	sel := &metav1.LabelSelector{MatchLabels: w.Selector()}
	var out []corev1.Pod
	for _, p := range pods {
		if harbor.SelectorMatches(sel, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// placed: the pod holds a place on a node (bound, not finished, not being deleted).
func placed(p *corev1.Pod) bool {
	return p.Spec.NodeName != "" && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// replicas compares desired and Ready replicas; it returns the Ready count.
func (k *checker) replicas(w *harbor.Workload, pods []corev1.Pod) int {
	desired, ready := int(w.Replicas()), 0
	var notReady []string
	for i := range pods {
		switch {
		case kube.PodReady(&pods[i]):
			ready++
		case pods[i].DeletionTimestamp == nil:
			notReady = append(notReady, pods[i].Name)
		}
	}
	comp := w.Component
	switch {
	case desired < 2:
		c := Check{Subject: comp, Check: "replicas", Status: Finding,
			Message: fmt.Sprintf("%d of %d replica Ready: one pod, so a node drain, an eviction or a crash takes %s offline", ready, desired, comp),
			Fix:     fmt.Sprintf("run 2 or more: helm harborha upgrade (--replicas 2 is the default), or %s.replicas in the chart values", comp)}
		if harbor.Optional(comp) { // it may run one pod: a warning
			c.Status = Warning
		}
		k.r.add(c)
	case ready < desired:
		k.r.finding(comp, "replicas", "see the pending check, and kubectl describe pod for the pods not Ready",
			"%d of %d replicas Ready (not Ready: %s)", ready, desired, strings.Join(notReady, ", "))
	default:
		k.r.ok(comp, "replicas", "%d of %d replicas Ready", ready, desired)
	}
	return ready
}

// spread checks that a multi-replica component's pods are on 2 nodes or
// more, and on 2 zones or more when the schedulable nodes span 2 zones.
func (k *checker) spread(w *harbor.Workload, pods []corev1.Pod) {
	if w.Replicas() < 2 {
		return
	}
	zoneOf := map[string]string{}
	for _, n := range k.l.nodes {
		zoneOf[n.Name] = n.Labels[corev1.LabelTopologyZone]
	}
	var nodes, zones []string
	for i := range pods {
		if p := &pods[i]; placed(p) {
			nodes = appendNew(nodes, p.Spec.NodeName)
			if z := zoneOf[p.Spec.NodeName]; z != "" {
				zones = appendNew(zones, z)
			}
		}
	}
	clusterZones := schedulableZones(k.l.nodes)
	comp := w.Component
	switch {
	case len(nodes) == 0:
		k.r.finding(comp, "nodes", "see the pending check", "no pod of %s runs on a node", comp)
	case len(nodes) == 1:
		k.r.finding(comp, "nodes", "spread the replicas: hard anti-affinity (helm harborha upgrade --anti-affinity hard) with as many schedulable nodes as replicas",
			"every running pod of %s is on node %s: losing that node stops %s", comp, nodes[0], comp)
	case len(clusterZones) >= 2 && len(zones) < 2:
		k.r.finding(comp, "nodes", "spread over zones: helm harborha upgrade --zone-spread",
			"pods on %d nodes (%s) but all in zone %s, while the schedulable nodes span %d zones: losing that zone stops %s", len(nodes), strings.Join(nodes, ", "), strings.Join(zones, ""), len(clusterZones), comp)
	case len(zones) >= 2:
		k.r.ok(comp, "nodes", "pods on %d nodes in %d zones", len(nodes), len(zones))
	default:
		k.r.ok(comp, "nodes", "pods on %d nodes (%s)", len(nodes), zoneNote(k.l))
	}
}

func zoneNote(l *live) string {
	if l.errs["nodes"] != nil {
		return "zones not checked: nodes could not be listed"
	}
	return "the schedulable nodes span fewer than 2 zones"
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// schedulableZones are the zones of the nodes new pods may go to: Ready
// and not cordoned.
func schedulableZones(nodes []corev1.Node) []string {
	var zones []string
	for i := range nodes {
		n := &nodes[i]
		if z := n.Labels[corev1.LabelTopologyZone]; z != "" && !n.Spec.Unschedulable && kube.NodeReady(n) {
			zones = appendNew(zones, z)
		}
	}
	sort.Strings(zones)
	return zones
}

// budget checks that exactly one PodDisruptionBudget selects a
// multi-replica component's pods and that it allows a disruption now: at
// 0, the next drain of one of their nodes blocks.
func (k *checker) budget(w *harbor.Workload) {
	if w.Replicas() < 2 {
		return
	}
	comp := w.Component
	if err := k.l.errs["poddisruptionbudgets"]; err != nil {
		k.r.unchecked(comp, "budget", err)
		return
	}
	var names []string
	var b *policyv1.PodDisruptionBudget
	for _, p := range k.rel.PDBs {
		if p.Selects(w) {
			names, b = append(names, p.Budget.Name), p.Budget
		}
	}
	switch {
	case len(names) == 0:
		k.r.finding(comp, "budget", "helm harborha upgrade adds one (maxUnavailable: 1); or enable "+comp+".podDisruptionBudget (chart 1.19 and later)",
			"no PodDisruptionBudget selects the pods of %s: a node drain or a cluster upgrade may evict them all at once", comp)
	case len(names) > 1:
		k.r.finding(comp, "budget", "keep one budget per component and delete the others",
			"%d PodDisruptionBudgets select the pods of %s (%s): the eviction API refuses to evict a pod several budgets select, so every drain of their nodes blocks", len(names), comp, strings.Join(names, ", "))
	case b.Status.ObservedGeneration < b.Generation:
		k.r.unchecked(comp, "budget", fmt.Errorf("PodDisruptionBudget %s: the disruption controller has not computed its status yet; run doctor again", b.Name))
	case b.Status.DisruptionsAllowed >= 1:
		k.r.ok(comp, "budget", "PodDisruptionBudget %s allows %s (%s)", b.Name, output.Count(int(b.Status.DisruptionsAllowed), "disruption"), budgetState(b))
	default:
		fix := "let one pod go: maxUnavailable: 1 (what helm harborha upgrade writes), or minAvailable below the replica count"
		if b.Status.CurrentHealthy < b.Status.ExpectedPods {
			fix = "make the pods that are not healthy Ready (see the replicas and pending checks): the budget then allows a disruption again"
		}
		k.r.finding(comp, "budget", fix,
			"PodDisruptionBudget %s allows 0 disruptions (%s): the next drain of a node with a %s pod blocks", b.Name, budgetState(b), comp)
	}
}

// budgetState says what a budget asks and sees: "maxUnavailable 1, 2 of 3
// pods healthy, 2 needed".
func budgetState(b *policyv1.PodDisruptionBudget) string {
	spec := "no minAvailable or maxUnavailable"
	switch {
	case b.Spec.MinAvailable != nil:
		spec = "minAvailable " + b.Spec.MinAvailable.String()
	case b.Spec.MaxUnavailable != nil:
		spec = "maxUnavailable " + b.Spec.MaxUnavailable.String()
	}
	st := b.Status
	return fmt.Sprintf("%s; %d of %d pods healthy, %d needed", spec, st.CurrentHealthy, st.ExpectedPods, st.DesiredHealthy)
}
