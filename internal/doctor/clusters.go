package doctor

import (
	"fmt"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/output"
)

// rediscover is the fix for an address that is not discovery's choice.
const rediscover = "point Harbor at it again: helm harborha upgrade rediscovers the clusters (or regenerate the overlay with helm harborha values and run helm upgrade)"

// unfinished is the fix when a cluster has no primary Service discovery
// can choose.
const unfinished = "check that KubeBlocks finished creating the cluster"

// label names an address's role in messages.
func (t *target) label() string {
	switch {
	case t.addr.engine == discover.PostgreSQL:
		return "database address"
	case t.addr.sentinel:
		return "Redis Sentinel address"
	}
	return "Redis address"
}

// addressCheck: the address Harbor is configured with is the one
// discovery would choose now. A ClusterIP that no Service has any more
// (the Service was recreated) is the classic outage.
func (k *checker) addressCheck(t *target) {
	v, subject := t.view, t.subject()
	what := fmt.Sprintf("%s %s (%s)", t.label(), t.addr, t.addr.where())
	switch {
	case v.errs["services"] != nil:
		k.r.unchecked(subject, "address", v.errs["services"])
	case t.stale() && t.cluster == nil && v.errs["clusters"] != nil:
		k.r.unchecked(subject, "address", v.errs["clusters"])
	case t.stale() && t.cluster == nil:
		k.r.unchecked(subject, "address", fmt.Errorf("%s is no KubeBlocks Service in namespace %s, and discovery finds no cluster to compare it with (%v); doctor checks KubeBlocks clusters only (--pg-namespace, --redis-namespace say where they live)", what, v.ns, t.chooseErr))
	case t.stale():
		k.staleAddress(t, what)
	case t.cluster == nil:
		k.r.finding(subject, "address", "recreate the cluster, or point Harbor at one that exists: helm harborha upgrade",
			"%s is Service %s of KubeBlocks cluster %s, which does not exist in namespace %s", what, t.service.Name, t.service.Labels[discover.LabelInstance], v.ns)
	case t.addr.sentinel:
		k.r.ok(subject, "address", "%s is Service %s of cluster %s", what, t.service.Name, t.cluster.Ref())
	default:
		svc, port, err := t.primary, t.primaryPort, t.primaryErr
		switch {
		case err != nil:
			k.r.finding(subject, "address", unfinished, "%s: %v", what, err)
		case svc.Name == t.service.Name && port == t.addr.port:
			k.r.ok(subject, "address", "%s is Service %s, the one discovery chooses", what, svc.Name)
		default:
			k.r.finding(subject, "address", rediscover,
				"%s is Service %s, but discovery chooses Service %s port %d (the ClusterIP Service that follows the primary)", what, t.service.Name, svc.Name, port)
		}
	}
}

// staleAddress reports an address that names no Service, with what
// discovery would choose instead.
func (k *checker) staleAddress(t *target, what string) {
	svc, port, err := t.primary, t.primaryPort, t.primaryErr
	if err != nil {
		k.r.finding(t.subject(), "address", unfinished,
			"%s is the address of no Service in namespace %s: Harbor reaches nothing; and %v", what, t.view.ns, err)
		return
	}
	k.r.finding(t.subject(), "address", rediscover,
		"%s is the address of no Service in namespace %s: Harbor reaches nothing (a Service recreated with a new ClusterIP?); discovery chooses Service %s at %s:%d",
		what, t.view.ns, svc.Name, svc.Spec.ClusterIP, port)
}

// clusterChecks: the cluster is Running, its primary Service has exactly
// one endpoint and it is the pod labelled primary, and its pods run on
// distinct nodes.
func (k *checker) clusterChecks(t *target) {
	cl, subject := t.cluster, t.subject()
	if cl.Unusable != "" {
		k.r.finding(subject, "cluster", "kubectl describe cluster "+cl.Name+" -n "+cl.Namespace+": KubeBlocks says what it waits for",
			"cluster %s: %s", cl.Ref(), cl.Unusable)
	} else {
		k.r.ok(subject, "cluster", "cluster %s is Running", cl.Ref())
	}
	k.primaryCheck(t)
	k.placementCheck(t)
}

// readyEndpoints are the ready endpoints of a Service's slices, by pod
// name (else by address).
func readyEndpoints(slices []discoveryv1.EndpointSlice, service string) []string {
	var out []string
	for _, s := range slices {
		if s.Labels[discoveryv1.LabelServiceName] != service {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			switch {
			case ep.TargetRef != nil && ep.TargetRef.Kind == "Pod":
				out = appendNew(out, ep.TargetRef.Name)
			case len(ep.Addresses) > 0:
				out = appendNew(out, ep.Addresses[0])
			}
		}
	}
	return out
}

// primaryCheck: exactly one ready endpoint behind the primary Service,
// and it is the pod KubeBlocks labels primary.
func (k *checker) primaryCheck(t *target) {
	cl, v, subject := t.cluster, t.view, t.subject()
	svc, err := t.primary, t.primaryErr
	switch {
	case err != nil:
		k.r.finding(subject, "primary", unfinished, "%v", err)
		return
	case v.errs["endpointslices"] != nil:
		k.r.unchecked(subject, "primary", v.errs["endpointslices"])
		return
	case v.errs["pods"] != nil:
		k.r.unchecked(subject, "primary", v.errs["pods"])
		return
	}
	eps := readyEndpoints(v.slices, svc.Name)
	var primaries []string
	for i := range v.pods {
		p := &v.pods[i]
		if p.Labels[discover.LabelInstance] == cl.Name && p.Labels[discover.LabelComponent] == cl.Component && p.Labels[discover.LabelRole] == discover.RolePrimary && p.DeletionTimestamp == nil {
			primaries = append(primaries, p.Name)
		}
	}
	const fix = "exactly one pod of the component must carry kubeblocks.io/role=primary and be Ready: check the cluster's pods and its role probe (a failover may be in progress)"
	switch {
	case len(eps) == 0:
		k.r.finding(subject, "primary", fix, "Service %s has no ready endpoint: Harbor cannot reach the %s primary", svc.Name, cl.Engine.Title())
	case len(eps) > 1:
		k.r.finding(subject, "primary", fix, "Service %s has %d ready endpoints (%s): Harbor's writes may reach a replica", svc.Name, len(eps), strings.Join(eps, ", "))
	case len(primaries) != 1:
		k.r.finding(subject, "primary", fix, "Service %s has one ready endpoint, %s, but %d pods carry %s=primary (%s)", svc.Name, eps[0], len(primaries), discover.LabelRole, strings.Join(primaries, ", "))
	case eps[0] != primaries[0]:
		k.r.finding(subject, "primary", fix, "the endpoint of Service %s is %s, but the pod labelled primary is %s: the Service does not follow the primary", svc.Name, eps[0], primaries[0])
	default:
		k.r.ok(subject, "primary", "Service %s has one ready endpoint, pod %s, the pod labelled primary", svc.Name, eps[0])
	}
}

// placementCheck: the pods of each component of the cluster run on
// distinct nodes. A highly available database whose replicas share a node
// is not highly available.
func (k *checker) placementCheck(t *target) {
	cl, v, subject := t.cluster, t.view, t.subject()
	if err := v.errs["pods"]; err != nil {
		k.r.unchecked(subject, "placement", err)
		return
	}
	byComp := map[string]map[string][]string{} // component -> node -> pods
	var comps []string
	for i := range v.pods {
		p := &v.pods[i]
		if p.Labels[discover.LabelInstance] != cl.Name || !placed(p) {
			continue
		}
		comp := p.Labels[discover.LabelComponent]
		if byComp[comp] == nil {
			byComp[comp] = map[string][]string{}
			comps = appendNew(comps, comp)
		}
		byComp[comp][p.Spec.NodeName] = append(byComp[comp][p.Spec.NodeName], p.Name)
	}
	var summary []string
	bad := false
	for _, comp := range orderedComponents(cl.Components, comps) {
		nodes := byComp[comp]
		n := 0
		for _, node := range harbor.SortedKeys(nodes) {
			pods := nodes[node]
			n += len(pods)
			if len(pods) > 1 {
				bad = true
				k.r.finding(subject, "placement", placementFix,
					"pods %s of component %s share node %s: losing that node stops them all; a highly available %s whose replicas share a node is not highly available", strings.Join(pods, ", "), comp, node, cl.Engine.Title())
			}
		}
		summary = append(summary, fmt.Sprintf("%s: %s on %s", comp, output.Count(n, "pod"), output.Count(len(nodes), "node")))
	}
	switch {
	case len(summary) == 0:
		k.r.finding(subject, "placement", "check the cluster's pods (kubectl get pods -l app.kubernetes.io/instance="+cl.Name+")", "no pod of cluster %s runs on a node", cl.Ref())
	case !bad:
		k.r.ok(subject, "placement", "pods on distinct nodes (%s)", strings.Join(summary, "; "))
	}
}

const placementFix = "spread them: required pod anti-affinity on kubernetes.io/hostname for the cluster (KubeBlocks 0.7-0.9: spec.affinity.podAntiAffinity Required with topologyKeys [kubernetes.io/hostname]; 0.9 and 1.0: the component's schedulingPolicy), then delete one of the pods so that KubeBlocks places it again"

// orderedComponents are the components seen, in the Cluster's order first.
func orderedComponents(spec, seen []string) []string {
	var out []string
	for _, c := range spec {
		if slices.Contains(seen, c) {
			out = append(out, c)
		}
	}
	for _, c := range seen {
		out = appendNew(out, c)
	}
	return out
}
