package lint

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/output"
)

// fewest is the fewest replicas w runs (its autoscaler's minimum), said
// for a message: "1 replica", "1 replica (autoscaler myharbor-core's minimum)".
func (c *checker) fewest(w *harbor.Workload) (int32, string) {
	n, _ := c.model.Scale(w)
	return n, output.Count(int(n), "replica") + c.byAutoscaler(w, "minimum")
}

// most is the most replicas w runs (its autoscaler's maximum), said for
// a message.
func (c *checker) most(w *harbor.Workload) (int32, string) {
	_, n := c.model.Scale(w)
	return n, output.Count(int(n), "replica") + c.byAutoscaler(w, "maximum")
}

func (c *checker) byAutoscaler(w *harbor.Workload, bound string) string {
	if h := c.model.Autoscaler(w); h != nil {
		return fmt.Sprintf(" (HorizontalPodAutoscaler %s's %s)", h.Autoscaler.Name, bound)
	}
	return ""
}

// HA001
func checkReplicas(c *checker) {
	for _, w := range c.model.Components() {
		switch n, said := c.fewest(w); {
		case n >= 2:
		case n <= 0:
			c.forComponent(w, "%s is scaled to %s: it does not run at all", w.Component, said)
		default:
			c.forComponent(w, "%s runs %s: a node drain, an eviction or a crash takes it offline", w.Component, said)
		}
	}
}

// HA002
func checkSpread(c *checker) {
	for _, w := range c.model.Components() {
		if n, said := c.most(w); n >= 2 && !spreads(w) {
			c.forComponent(w, "%s runs %s but no pod anti-affinity term and no topology spread constraint selects its pods: the scheduler may put them all on one node", w.Component, said)
		}
	}
}

// spreads reports whether some anti-affinity term or spread constraint of
// w's pods counts w's own pods, which is what keeps replicas apart.
func spreads(w *harbor.Workload) bool {
	for _, t := range antiAffinityTerms(w) {
		if termSelectsOwnPods(t.term, w) {
			return true
		}
	}
	for _, s := range w.Template().Spec.TopologySpreadConstraints {
		if harbor.SelectorMatches(s.LabelSelector, w.PodLabels()) {
			return true
		}
	}
	return false
}

type namedTerm struct {
	desc string // "required term 1", for messages
	term corev1.PodAffinityTerm
}

func antiAffinityTerms(w *harbor.Workload) []namedTerm {
	aff := w.Template().Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		return nil
	}
	var out []namedTerm
	for i, t := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		out = append(out, namedTerm{fmt.Sprintf("required pod anti-affinity term %d (topologyKey %s)", i+1, t.TopologyKey), t})
	}
	for i, t := range aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		out = append(out, namedTerm{fmt.Sprintf("preferred pod anti-affinity term %d (topologyKey %s)", i+1, t.PodAffinityTerm.TopologyKey), t.PodAffinityTerm})
	}
	return out
}

// termSelectsOwnPods: the selector matches the pod labels and the term's
// namespaces include the pods' own (an empty list means the pod's
// namespace; a namespaceSelector cannot be judged offline and is trusted).
func termSelectsOwnPods(t corev1.PodAffinityTerm, w *harbor.Workload) bool {
	if !harbor.SelectorMatches(t.LabelSelector, w.PodLabels()) {
		return false
	}
	if len(t.Namespaces) == 0 || t.NamespaceSelector != nil {
		return true
	}
	for _, ns := range t.Namespaces {
		if ns == w.Namespace() {
			return true
		}
	}
	return false
}

// Label keys that name a component or a release in the chart's selectors
// and pod labels (legacy and app.kubernetes.io forms).
var (
	componentKeys = []string{harbor.LabelComponent, "app.kubernetes.io/component"}
	releaseKeys   = []string{harbor.LabelRelease, "app.kubernetes.io/instance"}
)

// meantFor reports whether a selector was written for w's pods: it names
// w's component and, if it names a release, w's release. Terms about other
// pods (keep core away from the database, say) are not meant for w.
func meantFor(sel *metav1.LabelSelector, w *harbor.Workload) bool {
	if sel == nil {
		return false
	}
	names := false
	for k, v := range sel.MatchLabels {
		if slices.Contains(componentKeys, k) && v == w.Component {
			names = true
		}
		if slices.Contains(releaseKeys, k) && v != w.Release() {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		if slices.Contains(componentKeys, e.Key) && e.Operator == metav1.LabelSelectorOpIn && slices.Contains(e.Values, w.Component) {
			names = true
		}
	}
	return names
}

// HA003
func checkSelectors(c *checker) {
	for _, w := range c.model.Components() {
		for _, t := range antiAffinityTerms(w) {
			if meantFor(t.term.LabelSelector, w) && !harbor.SelectorMatches(t.term.LabelSelector, w.PodLabels()) {
				c.report(w.Doc, "%s of %s selects %s, but %s: the term never sees the other replicas", t.desc, w.Component, showSelector(t.term.LabelSelector), mismatch(t.term.LabelSelector, w.PodLabels()))
			}
		}
		for i, s := range w.Template().Spec.TopologySpreadConstraints {
			if meantFor(s.LabelSelector, w) && !harbor.SelectorMatches(s.LabelSelector, w.PodLabels()) {
				c.report(w.Doc, "topology spread constraint %d (topologyKey %s) of %s selects %s, but %s: it counts none of the replicas", i+1, s.TopologyKey, w.Component, showSelector(s.LabelSelector), mismatch(s.LabelSelector, w.PodLabels()))
			}
		}
	}
	for _, p := range c.model.PDBs {
		for _, w := range c.model.Components() {
			byName := p.Budget.Name == w.Name() && (p.Budget.Namespace == "" || p.Budget.Namespace == w.Namespace())
			if !(byName || meantFor(p.Budget.Spec.Selector, w)) || p.Selects(w) {
				continue
			}
			why := mismatch(p.Budget.Spec.Selector, w.PodLabels())
			if ns := p.Budget.Namespace; ns != "" && ns != w.Namespace() && harbor.SelectorMatches(p.Budget.Spec.Selector, w.PodLabels()) {
				why = fmt.Sprintf("the budget is in namespace %s and the pods in %s", ns, w.Namespace())
			}
			c.report(p.Doc, "this PodDisruptionBudget is meant for %s but selects none of its pods (selector %s): %s", w.Component, showSelector(p.Budget.Spec.Selector), why)
		}
	}
}

// showSelector writes a selector compactly and in a fixed order.
func showSelector(sel *metav1.LabelSelector) string {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return "nothing (empty selector)"
	}
	var parts []string
	for _, k := range harbor.SortedKeys(sel.MatchLabels) {
		parts = append(parts, k+"="+sel.MatchLabels[k])
	}
	for _, e := range sel.MatchExpressions {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", e.Key, strings.ToLower(string(e.Operator)), strings.Join(e.Values, ",")))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// mismatch says which requirement of a selector the pod labels fail.
func mismatch(sel *metav1.LabelSelector, labels map[string]string) string {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return "an empty selector selects no pods"
	}
	for _, k := range harbor.SortedKeys(sel.MatchLabels) {
		got, ok := labels[k]
		switch {
		case !ok:
			return fmt.Sprintf("the pods have no label %s", k)
		case got != sel.MatchLabels[k]:
			return fmt.Sprintf("the pods have %s=%s", k, got)
		}
	}
	for _, e := range sel.MatchExpressions {
		if !harbor.SelectorMatches(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{e}}, labels) {
			return fmt.Sprintf("the pods fail %s %s (%s)", e.Key, strings.ToLower(string(e.Operator)), strings.Join(e.Values, ","))
		}
	}
	return "the selector is not valid"
}

// HA004
func checkPDBPresent(c *checker) {
	for _, w := range c.model.Components() {
		n, said := c.most(w)
		if n < 2 || len(budgetsFor(c.model, w)) > 0 {
			continue
		}
		c.forComponent(w, "%s runs %s but no PodDisruptionBudget selects its pods: a node drain or cluster upgrade may evict them all at once", w.Component, said)
	}
}

func budgetsFor(rel *harbor.Release, w *harbor.Workload) []*harbor.PDB {
	var out []*harbor.PDB
	for _, p := range rel.PDBs {
		if p.Selects(w) {
			out = append(out, p)
		}
	}
	return out
}

// HA005
func checkPDBAllows(c *checker) {
	for _, w := range c.model.Components() {
		budgets := budgetsFor(c.model, w)
		if len(budgets) > 1 {
			var names []string
			for _, p := range budgets {
				names = append(names, p.Budget.Name)
			}
			c.report(w.Doc, "%d PodDisruptionBudgets (%s) select the pods of %s: the eviction API refuses to evict a pod covered by more than one budget, so node drains hang", len(budgets), strings.Join(names, ", "), w.Component)
		}
		// The fewest replicas are where a budget lets the fewest pods go.
		n, said := c.fewest(w)
		for _, p := range budgets {
			spec := p.Budget.Spec
			if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
				continue // HA007: the API server rejects it
			}
			allowed, what, ok := disruptionsAllowed(spec.MinAvailable, spec.MaxUnavailable, n)
			if ok && allowed <= 0 {
				c.report(p.Doc, "%s with %s of %s: no pod may ever be evicted, so node drains and cluster upgrades hang", what, said, w.Component)
			}
		}
	}
}

// disruptionsAllowed is how many of n healthy pods a budget lets go, the
// way the disruption controller rounds (percentages round up). ok is false
// when the budget sets neither field or a value does not parse (HA007).
func disruptionsAllowed(minAvailable, maxUnavailable *intstr.IntOrString, n int32) (allowed int32, what string, ok bool) {
	switch {
	case maxUnavailable != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(n), true)
		if err != nil {
			return 0, "", false
		}
		return int32(min(v, int(n))), "maxUnavailable " + maxUnavailable.String(), true
	case minAvailable != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(n), true)
		if err != nil {
			return 0, "", false
		}
		return n - int32(v), "minAvailable " + minAvailable.String(), true
	}
	return 0, "", false
}

// HA006
func checkRecreate(c *checker) {
	for _, w := range c.model.Components() {
		if w.Deployment == nil || w.Deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			continue
		}
		if n, said := c.most(w); n >= 2 {
			c.report(w.Doc, "%s runs %s with the Recreate strategy: every upgrade stops all of them before starting new ones", w.Component, said)
		}
	}
}

// HA007: the shapes the API server's validation refuses (apps and policy
// validation), so that a broken rollout is caught before `helm upgrade`.
func checkShapes(c *checker) {
	for _, w := range c.model.Components() {
		if w.Deployment != nil {
			s := w.Deployment.Spec.Strategy
			switch s.Type {
			case appsv1.RecreateDeploymentStrategyType:
				if s.RollingUpdate != nil {
					c.report(w.Doc, "spec.strategy.rollingUpdate is set while the type is Recreate: the API server rejects the Deployment (\"may not be specified when strategy `type` is 'Recreate'\")")
				}
			case "", appsv1.RollingUpdateDeploymentStrategyType:
				if ru := s.RollingUpdate; ru != nil {
					c.checkRollingUpdate(w, ru)
				}
			default:
				c.report(w.Doc, "spec.strategy.type %q is neither RollingUpdate nor Recreate: the API server rejects the Deployment", s.Type)
			}
		}
		if w.StatefulSet != nil {
			s := w.StatefulSet.Spec.UpdateStrategy
			switch s.Type {
			case "", appsv1.RollingUpdateStatefulSetStrategyType:
			case appsv1.OnDeleteStatefulSetStrategyType:
				if s.RollingUpdate != nil {
					c.report(w.Doc, "spec.updateStrategy.rollingUpdate is set while the type is OnDelete: the API server rejects the StatefulSet")
				}
			default:
				c.report(w.Doc, "spec.updateStrategy.type %q is neither RollingUpdate nor OnDelete: the API server rejects the StatefulSet", s.Type)
			}
		}
	}
	for _, p := range c.model.PDBs {
		spec := p.Budget.Spec
		if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
			c.report(p.Doc, "both minAvailable and maxUnavailable are set: the API server rejects the budget (the chart emits both when both values are given)")
		}
		for _, f := range []struct {
			name string
			v    *intstr.IntOrString
		}{{"minAvailable", spec.MinAvailable}, {"maxUnavailable", spec.MaxUnavailable}} {
			if msg := badIntOrPercent(f.v, false); msg != "" {
				c.report(p.Doc, "spec.%s %s", f.name, msg)
			}
		}
	}
}

func (c *checker) checkRollingUpdate(w *harbor.Workload, ru *appsv1.RollingUpdateDeployment) {
	for _, f := range []struct {
		name string
		v    *intstr.IntOrString
	}{{"maxSurge", ru.MaxSurge}, {"maxUnavailable", ru.MaxUnavailable}} {
		if msg := badIntOrPercent(f.v, f.name == "maxUnavailable"); msg != "" {
			c.report(w.Doc, "spec.strategy.rollingUpdate.%s %s", f.name, msg)
			return
		}
	}
	// Unset fields default to 25%; the API server refuses a rollout that
	// may neither add nor remove a pod.
	if isZero(ru.MaxSurge) && isZero(ru.MaxUnavailable) {
		c.report(w.Doc, "spec.strategy.rollingUpdate has maxSurge 0 and maxUnavailable 0: the API server rejects the Deployment (a rollout could never make progress)")
	}
}

var percentRE = regexp.MustCompile(`^[0-9]+%$`)

// badIntOrPercent describes an integer-or-percent the API server refuses.
func badIntOrPercent(v *intstr.IntOrString, atMost100 bool) string {
	if v == nil {
		return ""
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return fmt.Sprintf("is %d: it must not be negative", v.IntVal)
		}
		return ""
	}
	if !percentRE.MatchString(v.StrVal) {
		return fmt.Sprintf("is %q: it must be an integer or a percentage such as 25%%", v.StrVal)
	}
	if p, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); atMost100 && p > 100 {
		return fmt.Sprintf("is %s: it must not exceed 100%%", v.StrVal)
	}
	return ""
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false // defaults to 25%
	}
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	p, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return err == nil && p == 0
}

// HA008
func checkMultiAttach(c *checker) {
	for _, w := range c.model.Components() {
		n, said := c.most(w)
		if n < 2 {
			continue
		}
		for _, v := range w.Template().Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			if c.model.ClaimShared(w.Namespace(), v.PersistentVolumeClaim.ClaimName) {
				continue
			}
			claim := c.model.Claim(w.Namespace(), v.PersistentVolumeClaim.ClaimName)
			fix := c.rule.Fix
			if f, ok := multiAttachFix[w.Component]; ok {
				fix = f
			}
			c.reportAs(w.Doc, c.rule.Severity, fix, fmt.Sprintf("%s runs %s on claim %s (volume %s, access modes %s): pods on a second node hang in ContainerCreating (Multi-Attach)", w.Component, said, claim.Name, v.Name, accessModes(claim)))
		}
	}
}

// multiAttachFix is HA008's fix for the two components the chart gives
// claims, in the chart's own values.
var multiAttachFix = map[string]string{
	"registry":   "Use object storage (`persistence.imageChartStorage.type`) or a ReadWriteMany claim (`persistence.persistentVolumeClaim.registry.accessMode: ReadWriteMany`, or `helm harborha post-render --shared-pvc NAME`).",
	"jobservice": "Log jobs to the database (`jobservice.jobLoggers: [database]`) or use a ReadWriteMany claim (`persistence.persistentVolumeClaim.jobservice.jobLog.accessMode: ReadWriteMany`, or `helm harborha post-render --shared-pvc NAME`).",
}

func accessModes(c *corev1.PersistentVolumeClaim) string {
	if len(c.Spec.AccessModes) == 0 {
		return "none"
	}
	var out []string
	for _, m := range c.Spec.AccessModes {
		out = append(out, string(m))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// HA009
func checkInternal(c *checker) {
	for _, w := range c.model.Internals() {
		store, _ := harbor.InternalStore(w.Component)
		key := w.Component + ".type"
		fix := fmt.Sprintf("Use an external highly-available %s (`%s: external`; `helm harborha values` writes it for a KubeBlocks cluster).", store, key)
		c.reportAs(w.Doc, c.rule.Severity, fix, fmt.Sprintf("the chart's internal %s (%s: internal) is a single pod that cannot be replicated: Harbor stops whenever it does", store, key))
	}
}
