package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
)

// kbView is what the checks read in one namespace that holds clusters
// Harbor uses.
type kbView struct {
	ns       string
	services []corev1.Service // KubeBlocks' own
	clusters []discover.Cluster
	pods     []corev1.Pod
	slices   []discoveryv1.EndpointSlice
	errs     map[string]error // by resource
}

// target is one address of Harbor's configuration, resolved to the Service
// it names and the cluster behind it; stale when it names no Service, and
// then cluster is the one discovery would choose now. primary is the
// cluster's primary Service, as discovery chooses it, and its port.
type target struct {
	addr        address
	view        *kbView
	service     *corev1.Service
	cluster     *discover.Cluster
	chooseErr   error
	primary     *corev1.Service
	primaryPort int
	primaryErr  error
}

// stale: the Services were listed and the address names none of them.
func (t *target) stale() bool { return t.service == nil && t.view.errs["services"] == nil }

// kubeBlocks checks the clusters Harbor uses, found from the addresses in
// its configuration: each address, then each cluster once.
func (k *checker) kubeBlocks(ctx context.Context) {
	if err := k.l.errs["configmaps"]; err != nil {
		k.r.unchecked(discover.PostgreSQL.Title(), "address", err)
		k.r.unchecked(discover.Redis.Title(), "address", err)
		return
	}
	addrs := k.usedAddresses()
	views := k.listKubeBlocks(ctx, addrs)
	var targets []*target
	for _, a := range addrs {
		targets = append(targets, resolve(a, views[k.namespaceOf(a)]))
	}
	clusters := k.listClusterObjects(ctx, targets)
	k.r.clusters = clusters
	for _, t := range targets {
		k.addressCheck(t)
	}
	for _, t := range clusters {
		k.clusterChecks(t)
		if t.cluster.Engine == discover.Redis {
			k.aclCheck(t, usersOf(targets, t))
		}
	}
}

// usersOf are the Redis usernames of every address that leads to t's
// cluster.
func usersOf(targets []*target, t *target) []string {
	var out []string
	for _, o := range targets {
		if o.view == t.view && o.cluster != nil && o.cluster.Name == t.cluster.Name {
			for _, u := range o.addr.users {
				out = appendNew(out, u)
			}
		}
	}
	return out
}

// usedAddresses are the configured addresses of the engines Harbor takes
// from outside the chart; an engine with none configured is unchecked.
func (k *checker) usedAddresses() []address {
	all := addresses(k.rel, k.l.configMapsByName())
	var out []address
	for _, e := range []discover.Engine{discover.PostgreSQL, discover.Redis} {
		if slices.ContainsFunc(k.rel.Internals(), func(w *harbor.Workload) bool { s, _ := harbor.InternalStore(w.Component); return s == e.Title() }) {
			continue // the chart's own: reported as such
		}
		n := len(out)
		for _, a := range all {
			if a.engine == e {
				out = append(out, a)
			}
		}
		if len(out) == n {
			k.r.unchecked(e.Title(), "address", fmt.Errorf("no %s address in the configuration of release %s (core's %s, Redis URLs in its ConfigMaps and env)", e.Title(), k.o.Release, envDBHost))
		}
	}
	return out
}

// namespaceOf is where the cluster behind an address lives: the Service's
// namespace for a DNS name, else --pg-namespace or --redis-namespace, else
// Harbor's.
func (k *checker) namespaceOf(a address) string {
	if _, ns, ok := serviceName(a.host); ok && ns != "" {
		return ns
	}
	if a.engine == discover.PostgreSQL && k.o.PGNamespace != "" {
		return k.o.PGNamespace
	}
	if a.engine == discover.Redis && k.o.RedisNamespace != "" {
		return k.o.RedisNamespace
	}
	return k.c.Namespace
}

// listKubeBlocks lists, per namespace involved, KubeBlocks' Services and
// the Clusters, concurrently.
func (k *checker) listKubeBlocks(ctx context.Context, addrs []address) map[string]*kbView {
	views := map[string]*kbView{}
	for _, a := range addrs {
		ns := k.namespaceOf(a)
		if views[ns] != nil {
			continue
		}
		v := &kbView{ns: ns}
		views[ns] = v
		sel := metav1.ListOptions{LabelSelector: discover.LabelManagedBy + "=" + discover.ManagedByKubeBlocks}
		v.errs = runAll(ctx, k.c, []call{
			{list("list", "services", "", ns), func(ctx context.Context) error {
				l, err := k.c.Typed.CoreV1().Services(ns).List(ctx, sel)
				if err == nil {
					v.services = l.Items
				}
				return err
			}},
			{list("list", "clusters", discover.ClusterGroup, ns), func(ctx context.Context) (err error) {
				v.clusters, err = discover.ListClusters(ctx, k.c, ns)
				return err
			}},
		})
	}
	return views
}

// resolve finds the Service an address names (by ClusterIP or DNS name),
// the cluster behind it and that cluster's primary Service.
func resolve(a address, v *kbView) *target {
	t := &target{addr: a, view: v}
	if v.errs["services"] != nil {
		return t
	}
	name, _, byName := serviceName(a.host)
	for i := range v.services {
		s := &v.services[i]
		if (byName && s.Name == name) || (!byName && (s.Spec.ClusterIP == a.host || slices.Contains(s.Spec.ClusterIPs, a.host))) {
			t.service = s
			break
		}
	}
	switch {
	case t.service != nil:
		t.cluster = clusterOf(t.service, v.clusters)
	case v.errs["clusters"] == nil:
		if cl, err := discover.Choose(v.ns, v.clusters, a.engine); err == nil {
			t.cluster = &cl
		} else {
			t.chooseErr = err
		}
	}
	if t.cluster != nil {
		t.primary, t.primaryPort, t.primaryErr = t.cluster.PrimaryService(v.services)
	}
	return t
}

// clusterOf is the cluster a KubeBlocks Service belongs to: its instance
// label, else (headless Services of 0.9 and 1.0 carry none) the cluster
// whose name prefixes the Service's, as KubeBlocks names them <c>-<comp>-...
func clusterOf(svc *corev1.Service, clusters []discover.Cluster) *discover.Cluster {
	var best *discover.Cluster
	for i := range clusters {
		c := &clusters[i]
		switch inst := svc.Labels[discover.LabelInstance]; {
		case inst != "" && c.Name == inst:
			return c
		case inst == "" && strings.HasPrefix(svc.Name, c.Name+"-") && (best == nil || len(c.Name) > len(best.Name)):
			best = c
		}
	}
	return best
}

// subject names a target's cluster: "PostgreSQL harbor/mypg".
func (t *target) subject() string {
	if t.cluster == nil {
		return t.addr.engine.Title()
	}
	return t.addr.engine.Title() + " " + t.cluster.Ref()
}

// listClusterObjects lists, per namespace, the pods of the clusters the
// targets lead to and the EndpointSlices of their primary Services; it
// returns one target per cluster, for the cluster checks.
func (k *checker) listClusterObjects(ctx context.Context, targets []*target) []*target {
	var out []*target
	names, services := map[*kbView][]string{}, map[*kbView][]string{}
	for _, t := range targets {
		if t.cluster == nil || slices.ContainsFunc(out, func(o *target) bool { return o.view == t.view && o.cluster.Name == t.cluster.Name }) {
			continue
		}
		out = append(out, t)
		names[t.view] = append(names[t.view], t.cluster.Name)
		if t.primaryErr == nil {
			services[t.view] = append(services[t.view], t.primary.Name)
		}
	}
	for v, clusters := range names {
		podSel := metav1.ListOptions{LabelSelector: discover.InstanceSelector(clusters)}
		calls := []call{{list("list", "pods", "", v.ns), func(ctx context.Context) error {
			l, err := k.c.Typed.CoreV1().Pods(v.ns).List(ctx, podSel)
			if err == nil {
				v.pods = sortedPods(l.Items)
			}
			return err
		}}}
		if svcs := services[v]; len(svcs) > 0 {
			sliceSel := metav1.ListOptions{LabelSelector: fmt.Sprintf("%s in (%s)", discoveryv1.LabelServiceName, strings.Join(svcs, ","))}
			calls = append(calls, call{list("list", "endpointslices", "discovery.k8s.io", v.ns), func(ctx context.Context) error {
				l, err := k.c.Typed.DiscoveryV1().EndpointSlices(v.ns).List(ctx, sliceSel)
				if err == nil {
					v.slices = l.Items
				}
				return err
			}})
		}
		for res, err := range runAll(ctx, k.c, calls) {
			v.errs[res] = err
		}
	}
	return out
}
