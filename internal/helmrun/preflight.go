package helmrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/getter"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/pipeline"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Preflight refuses, before anything is created (no bootstrap Job, no Helm
// release), an install or upgrade the cluster cannot run: hard pod
// anti-affinity with more replicas than schedulable nodes (or topology
// domains), --zone-spread on nodes that carry fewer than 2 zones, and
// --create-shared-pvc with a StorageClass that does not exist, and knobs
// the API server's release cannot run (kubeFeatures). Without it,
// `helm --wait` hangs on a Pending pod, and without --wait the release is
// quietly degraded.
//
// What each component will run is computed from the post-render knobs and
// the user's values (merged by Helm's own code from the same -f and --set
// flags), not by rendering the chart: the knobs decide the replicas and
// the anti-affinity harborha adds, and the values the chart's replicas,
// nodeSelector, tolerations and affinity per component, keys every chart
// version has. Rendering would mean locating, maybe downloading, and
// rendering the chart (half a second and more) only for Helm to do it again
// right after. The chart's defaults are one replica and no scheduling
// constraint, which is what an absent key means here.
//
// It needs the API server only when a check applies (one list of Nodes,
// which discovery's node address then shares, one get of the
// StorageClass); when the cluster cannot be asked (RBAC, unreachable), it
// says so on stderr and lets Helm run.
type Preflight struct {
	Skip bool
}

// AddFlags defines --no-preflight.
func (p *Preflight) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.Skip, "no-preflight", false, "do not check first that the cluster's nodes and StorageClass can run the release (a cluster autoscaler adds nodes, say)")
}

// preflight runs the checks for install and upgrade.
func (o *Options) preflight(ctx context.Context, progress io.Writer) error {
	if o.Action == "template" || o.Preflight.Skip {
		return nil
	}
	knobs := o.input.Knobs
	vals, err := userValues(o.Release, o.input.Cluster.Settings())
	if err != nil {
		return nil // Helm reports bad values itself, in its words
	}
	needs := placementNeeds(knobs, vals, o.Release.Name, !o.Flags.NoDiscover)
	classCheck := knobs.CreateSharedPVC && knobs.StorageClass != ""
	if !placementCheck(needs) && !classCheck && !versionCheck(knobs) {
		return nil
	}
	if _, err := o.input.Cluster.Client(); err != nil {
		fmt.Fprintf(progress, "harborha: preflight skipped: %v\n", err)
		return nil
	}
	return runPreflight(ctx, o.input.Cluster, needs, knobs, progress)
}

// placementCheck: some component asks for anti-affinity or zone spread,
// so the nodes must be listed.
func placementCheck(needs []need) bool {
	return slices.ContainsFunc(needs, func(n need) bool { return len(n.spread) > 0 || n.zones })
}

// runPreflight asks the cluster (connected): the StorageClass, and the
// nodes for placement, which discovery then reuses.
func runPreflight(ctx context.Context, cluster *pipeline.Cluster, needs []need, knobs postrender.Knobs, progress io.Writer) error {
	c, _ := cluster.Client()
	skipped := func(err error, op kube.Op) {
		fmt.Fprintf(progress, "harborha: preflight skipped a check: %v\n", c.Explain(err, op))
	}
	if versionCheck(knobs) {
		if err := checkVersion(c, knobs, skipped); err != nil {
			return err
		}
	}
	if knobs.CreateSharedPVC && knobs.StorageClass != "" {
		_, err := c.Typed.StorageV1().StorageClasses().Get(ctx, knobs.StorageClass, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("preflight: --storage-class %s does not exist on %s, so the shared claim would stay Pending and registry and jobservice never start: name an existing ReadWriteMany class (kubectl get storageclass); nothing was created", knobs.StorageClass, c.Where())
		case err != nil:
			skipped(err, kube.Op{Verb: "get", Resource: "storageclasses", Group: "storage.k8s.io", Name: knobs.StorageClass})
		}
	}
	if !placementCheck(needs) {
		return nil
	}
	nodes, err := cluster.Nodes(ctx)
	if err != nil {
		skipped(err, kube.Op{Verb: "list", Resource: "nodes"})
		return nil
	}
	return checkPlacement(needs, slices.Clone(nodes))
}

// versionCheck: a knob puts into the pods a field that Kubernetes runs by
// default only from some release on (kubeFeatures).
func versionCheck(k postrender.Knobs) bool {
	return slices.ContainsFunc(kubeFeatures(k), func(f kubeFeature) bool { return f.used })
}

// kubeFeature is a field the knobs put into the pods, and the first
// Kubernetes minor release (1.x) that runs it by default. An older API
// server drops the field or refuses the pod in its own words, after the
// bootstrap and the release were made.
type kubeFeature struct {
	used          bool
	flag, feature string
	minor         uint
	remedy        string
}

func kubeFeatures(k postrender.Knobs) []kubeFeature {
	return []kubeFeature{
		{k.DatabaseProxyImage != "", "--database-proxy-image", "the proxy runs as a native sidecar", 29, "leave --database-proxy-image out"},
		{k.PreStopSleep > 0, fmt.Sprintf("--prestop-sleep=%d", k.PreStopSleep), "the preStop sleep action", 30, "pass --prestop-sleep=0"},
	}
}

// checkVersion refuses knobs the API server's release cannot run. A
// version it does not tell, or tells as 0.x (a build without version
// stamps), is not judged.
func checkVersion(c *kube.Client, k postrender.Knobs, skipped func(error, kube.Op)) error {
	info, err := c.Typed.Discovery().ServerVersion()
	if err != nil {
		skipped(err, kube.Op{Verb: "get", Resource: "version"})
		return nil
	}
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil || v.Major() == 0 {
		return nil
	}
	for _, f := range kubeFeatures(k) {
		if f.used && v.LessThan(version.MajorMinor(1, f.minor)) {
			return fmt.Errorf("preflight: %s needs Kubernetes 1.%d or later (%s), and %s runs %s: upgrade the cluster, or %s; nothing was created", f.flag, f.minor, f.feature, c.Where(), info.GitVersion, f.remedy)
		}
	}
	return nil
}

// userValues merges the values Helm will get from the user's flags, with
// Helm's own code.
func userValues(r *helmexec.Release, settings *cli.EnvSettings) (map[string]any, error) {
	v := pipeline.HelmValues(r.Values)
	return v.MergeValues(getter.All(settings))
}

// need is what one component will ask of the scheduler.
type need struct {
	component  string
	replicas   int32
	autoscaled bool     // replicas is its autoscaler's maximum
	spread     []string // topology keys of required anti-affinity between its replicas
	zones      bool     // --zone-spread
	selector   map[string]string
	tolerate   []corev1.Toleration
	affinity   *corev1.NodeSelector // required node affinity
}

// placementNeeds are the components the chart will render and what each
// asks once post-rendered; discovering means harborha's overlay sets
// expose.type nodePort (so nginx renders) unless the user's values say
// otherwise.
func placementNeeds(knobs postrender.Knobs, vals map[string]any, release string, discovering bool) []need {
	var out []need
	app := "harbor"
	if s, _ := vals["nameOverride"].(string); s != "" {
		app = s
	}
	for _, comp := range renderedComponents(vals, discovering) {
		cv, _ := vals[comp].(map[string]any)
		// An autoscaled component is placed for its autoscaler's maximum.
		n := need{component: comp, replicas: knobs.Most(comp, kindOf(comp), intValue(cv["replicas"], 1))}
		_, n.autoscaled = knobs.Autoscale.For(comp, kindOf(comp), knobs.Replicas)
		decode(cv["nodeSelector"], &n.selector)
		decode(cv["tolerations"], &n.tolerate)
		var aff corev1.Affinity
		decode(cv["affinity"], &aff)
		if na := aff.NodeAffinity; na != nil {
			n.affinity = na.RequiredDuringSchedulingIgnoredDuringExecution
		}
		if n.replicas >= 2 {
			if knobs.AntiAffinity == postrender.AntiAffinityHard {
				n.spread = append(n.spread, knobs.TopologyKey)
			}
			pod := map[string]string{harbor.LabelRelease: release, harbor.LabelApp: app, harbor.LabelComponent: comp}
			if paa := aff.PodAntiAffinity; paa != nil {
				for _, term := range paa.RequiredDuringSchedulingIgnoredDuringExecution {
					if harbor.SelectorMatches(term.LabelSelector, pod) && !slices.Contains(n.spread, term.TopologyKey) {
						n.spread = append(n.spread, term.TopologyKey)
					}
				}
			}
			n.zones = knobs.ZoneSpread
		}
		out = append(out, n)
	}
	return out
}

// renderedComponents are the components the chart renders with vals:
// nginx only when Harbor is not exposed by an Ingress or Route, trivy
// unless disabled, the exporter only with metrics.
func renderedComponents(vals map[string]any, discovering bool) []string {
	expose := "ingress" // the chart's default
	if discovering {
		expose = "nodePort" // harborha's overlay
	}
	if e, _ := vals["expose"].(map[string]any); e != nil {
		if s, _ := e["type"].(string); s != "" {
			expose = s
		}
	}
	enabled := func(key string, def bool) bool {
		m, _ := vals[key].(map[string]any)
		b, ok := m["enabled"].(bool)
		return b || (!ok && def)
	}
	var out []string
	for _, c := range harbor.Components {
		switch {
		case c == "nginx" && (expose == "ingress" || expose == "route"),
			c == "trivy" && !enabled("trivy", true),
			c == "exporter" && !enabled("metrics", false):
			continue
		}
		out = append(out, c)
	}
	return out
}

// kindOf is the kind of workload the chart renders for a component.
func kindOf(component string) string {
	if component == "trivy" {
		return "StatefulSet"
	}
	return "Deployment"
}

func intValue(v any, def int32) int32 {
	switch n := v.(type) {
	case int64:
		return int32(n)
	case float64:
		return int32(n)
	case int:
		return int32(n)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return int32(i)
		}
	}
	return def
}

// decode reads a values subtree into a Kubernetes type; a subtree of
// the wrong shape is left for the chart and the API server to refuse.
func decode(v, into any) {
	if v == nil {
		return
	}
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, into)
	}
}

// checkPlacement refuses the first component whose replicas cannot all be
// placed, or whose zone spread has fewer than 2 zones to spread over.
func checkPlacement(needs []need, nodes []corev1.Node) error {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range needs {
		ok, why := schedulable(n, nodes)
		for _, key := range n.spread {
			if domains, unbounded := topologyDomains(ok, key); !unbounded && int32(len(domains)) < n.replicas {
				return antiAffinityError(n, key, domains, len(ok), why)
			}
		}
		if n.zones {
			if zones, _ := topologyDomains(ok, corev1.LabelTopologyZone); len(zones) < 2 {
				return fmt.Errorf("preflight: --zone-spread needs nodes in 2 zones or more, and the %d schedulable nodes for %s carry %s%s: label the nodes with %s, or drop --zone-spread; nothing was created",
					len(ok), n.component, zoneList(zones), because(why), corev1.LabelTopologyZone)
			}
		}
	}
	return nil
}

func antiAffinityError(n need, key string, domains []string, nodes int, why []string) error {
	what := fmt.Sprintf("%d schedulable nodes", n.replicas)
	has := fmt.Sprintf("the cluster has %d", nodes)
	if key != corev1.LabelHostname {
		what = fmt.Sprintf("%d values of node label %s among the schedulable nodes", n.replicas, key)
		has = fmt.Sprintf("they have %d (%s)", len(domains), strings.Join(domains, ", "))
	}
	count, lower := fmt.Sprintf("%d replicas", n.replicas), "--replicas"
	if n.autoscaled {
		count, lower = fmt.Sprintf("up to %d replicas (--autoscale MAX)", n.replicas), "--autoscale's MAX"
	}
	return fmt.Errorf("preflight: hard anti-affinity needs %s for %s's %s, %s%s: add nodes, lower %s, or use --anti-affinity soft; nothing was created (--no-preflight skips this check)",
		what, n.component, count, has, because(why), lower)
}

func because(why []string) string {
	if len(why) == 0 {
		return ""
	}
	if len(why) > 3 {
		why = append(why[:3], fmt.Sprintf("%d more", len(why)-3))
	}
	return " (" + strings.Join(why, "; ") + ")"
}

func zoneList(zones []string) string {
	switch len(zones) {
	case 0:
		return "no zone label"
	case 1:
		return "1 zone (" + zones[0] + ")"
	}
	return fmt.Sprintf("%d zones", len(zones))
}

// schedulable are the nodes a component's pods may go to, and why the
// others may not: Ready, not cordoned, matching its nodeSelector and
// required node affinity, tolerating every NoSchedule and NoExecute taint.
func schedulable(n need, nodes []corev1.Node) (ok []corev1.Node, why []string) {
	for _, node := range nodes {
		if reason := unschedulable(n, &node); reason != "" {
			why = append(why, node.Name+" "+reason)
			continue
		}
		ok = append(ok, node)
	}
	return ok, why
}

func unschedulable(n need, node *corev1.Node) string {
	switch {
	case node.Spec.Unschedulable:
		return "is cordoned"
	case !kube.NodeReady(node):
		return "is not Ready"
	case !labels.SelectorFromSet(n.selector).Matches(labels.Set(node.Labels)):
		return fmt.Sprintf("does not match %s's nodeSelector", n.component)
	case n.affinity != nil && !matchesNodeSelector(n.affinity, node):
		return fmt.Sprintf("does not match %s's node affinity", n.component)
	}
	for _, taint := range node.Spec.Taints {
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !slices.ContainsFunc(n.tolerate, func(t corev1.Toleration) bool { return t.ToleratesTaint(logr.Discard(), &taint, true) }) {
			return fmt.Sprintf("has taint %s=%s:%s that %s does not tolerate", taint.Key, taint.Value, taint.Effect, n.component)
		}
	}
	return ""
}

// matchesNodeSelector: one of the terms matches (each term: all of its
// expressions on labels, and matchFields on metadata.name).
func matchesNodeSelector(s *corev1.NodeSelector, node *corev1.Node) bool {
	ops := map[corev1.NodeSelectorOperator]selection.Operator{
		corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
		corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
		corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
	}
	match := func(reqs []corev1.NodeSelectorRequirement, set labels.Set) bool {
		for _, r := range reqs {
			req, err := labels.NewRequirement(r.Key, ops[r.Operator], r.Values)
			if err != nil || !req.Matches(set) {
				return false
			}
		}
		return true
	}
	for _, term := range s.NodeSelectorTerms {
		if len(term.MatchExpressions)+len(term.MatchFields) > 0 &&
			match(term.MatchExpressions, node.Labels) && match(term.MatchFields, labels.Set{"metadata.name": node.Name}) {
			return true
		}
	}
	return false
}

// topologyDomains are the distinct values of a node label among nodes;
// unbounded when a node lacks the label (the scheduler does not count
// such a node against anti-affinity, so it may take any number of pods).
func topologyDomains(nodes []corev1.Node, key string) (domains []string, unbounded bool) {
	for _, n := range nodes {
		v, ok := n.Labels[key]
		if !ok {
			unbounded = true
			continue
		}
		if !slices.Contains(domains, v) {
			domains = append(domains, v)
		}
	}
	sort.Strings(domains)
	return domains, unbounded
}
