// Package discover finds the KubeBlocks PostgreSQL and Redis clusters Harbor
// should use, across KubeBlocks 0.7, 0.8, 0.9 (legacy and topology), 1.0,
// 1.1 and 1.2 (which create 1.0's objects; 1.2 serves apps.kubeblocks.io/v1
// only), Valkey being Harbor's Redis too, with a bounded number of API calls
// whatever else the namespace holds.
//
// Per namespace involved it makes: one list of clusters.apps.kubeblocks.io
// (v1, and v1alpha1 when v1 is not served), then one list each of
// Services, Secrets and Pods with a server-side label selector
// (app.kubernetes.io/managed-by=kubeblocks, app.kubernetes.io/instance in
// (the chosen clusters)), sent concurrently; plus one list of Nodes when a
// node address is wanted. That is 4-6 requests for Harbor's usual setup
// (both clusters in one namespace).
//
// Facts and sources: ../shared/kubeblocks/REFERENCE.md. Passwords are held
// in Password values, which never print.
package discover

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/harborha/helm-harborha/internal/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ClusterGroup is the KubeBlocks API group; versions are tried in order.
const ClusterGroup = "apps.kubeblocks.io"

var clusterVersions = []string{"v1", "v1alpha1"}

// ClusterResource is the Cluster resource in one API version.
func ClusterResource(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: ClusterGroup, Version: version, Resource: "clusters"}
}

type podLabels = map[string]string

// Discover finds the PostgreSQL and Redis clusters for Harbor.
func Discover(ctx context.Context, c *kube.Client, o Query) (*Result, error) {
	if o.Namespace == "" {
		o.Namespace = c.Namespace
	}
	if o.Address == "" {
		o.Address = AddressClusterIP
	}
	if o.Address != AddressClusterIP && o.Address != AddressDNS {
		return nil, fmt.Errorf("--address %q: use %q or %q", o.Address, AddressClusterIP, AddressDNS)
	}
	d := &discoverer{c: c, o: o, lists: map[string][]kbCluster{}}
	pgNS, redisNS := cmp.Or(o.PGNamespace, o.Namespace), cmp.Or(o.RedisNamespace, o.Namespace)

	// The node list does not depend on anything else: overlap it.
	var nodeIP string
	var nodeErr error
	var nodeWG sync.WaitGroup
	if o.NodeAddress {
		nodeWG.Add(1)
		go func() { defer nodeWG.Done(); nodeIP, nodeErr = NodeAddress(ctx, c, o.Nodes) }()
	}

	pg, err := d.choose(ctx, PostgreSQL, pgNS, o.PG, "--pg", "--pg-namespace")
	if err != nil {
		nodeWG.Wait()
		return nil, err
	}
	rd, err := d.choose(ctx, Redis, redisNS, o.Redis, "--redis", "--redis-namespace")
	if err != nil {
		nodeWG.Wait()
		return nil, err
	}
	objs, err := d.objects(ctx, []kbCluster{pg, rd})
	nodeWG.Wait()
	if err != nil {
		return nil, err
	}
	r := &Result{Unusable: d.unusable(pg, rd)}
	if r.PostgreSQL, err = d.endpoint(pg, PostgreSQL, objs[pg.namespace]); err != nil {
		return nil, err
	}
	if r.Redis, err = d.endpoint(rd, Redis, objs[rd.namespace]); err != nil {
		return nil, err
	}
	if o.Sentinel {
		if err := d.sentinel(rd, r.Redis, objs[rd.namespace]); err != nil {
			return nil, err
		}
	}
	if o.NodeAddress {
		if nodeErr != nil {
			return nil, nodeErr
		}
		r.NodeIP = nodeIP
	}
	r.Warnings = d.warnings
	return r, nil
}

type discoverer struct {
	c        *kube.Client
	o        Query
	lists    map[string][]kbCluster // per namespace
	warnings []string
}

func (d *discoverer) warnf(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// clusters lists the Clusters of a namespace, v1 first then v1alpha1.
func (d *discoverer) clusters(ctx context.Context, ns string) ([]kbCluster, error) {
	if l, ok := d.lists[ns]; ok {
		return l, nil
	}
	for _, v := range clusterVersions {
		list, err := d.c.Dynamic.Resource(ClusterResource(v)).Namespace(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue // this version is not served: KubeBlocks < 1.0, or not installed
		}
		if err != nil {
			return nil, d.c.Explain(err, kube.Op{Verb: "list", Resource: "clusters", Group: ClusterGroup, Namespace: ns})
		}
		var out []kbCluster
		for i := range list.Items {
			out = append(out, parseCluster(&list.Items[i], v))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		d.lists[ns] = out
		return out, nil
	}
	return nil, &kube.Error{Msg: fmt.Sprintf("KubeBlocks is not installed on %s: the API server serves clusters.%s in neither %s; install KubeBlocks, or select the cluster that runs it with --kube-context",
		d.c.Where(), ClusterGroup, strings.Join(clusterVersions, " nor "))}
}

// choose picks the cluster of an engine: by name, or the only one.
func (d *discoverer) choose(ctx context.Context, e Engine, ns, name, nameFlag, nsFlag string) (kbCluster, error) {
	all, err := d.clusters(ctx, ns)
	if err != nil {
		return kbCluster{}, err
	}
	var cands []kbCluster
	for _, c := range all {
		if name != "" && c.name == name {
			if got := c.engine(); got != e {
				return kbCluster{}, fmt.Errorf("cluster %s/%s is a %s cluster, not %s; name a %s cluster with %s (%s)", ns, name, got.Title(), e.Title(), e.Title(), nameFlag, describe(all))
			}
			cands = []kbCluster{c}
			break
		}
		if name == "" && c.engine() == e {
			cands = append(cands, c)
		}
	}
	if name == "" && e == Redis && len(cands) > 1 {
		// A Redis Cluster next to a usable Redis is no ambiguity.
		var usable []kbCluster
		for _, c := range cands {
			if !c.redisCluster() {
				usable = append(usable, c)
			}
		}
		if len(usable) > 0 {
			cands = usable
		}
	}
	switch {
	case len(cands) == 1:
		c := cands[0]
		if e == Redis && c.redisCluster() {
			return kbCluster{}, fmt.Errorf("Redis cluster %s/%s is a sharded Redis Cluster (KubeBlocks shardings or topology \"cluster\"): Harbor cannot use Redis Cluster; create a Redis cluster with topology replication (or standalone) for Harbor", ns, c.name)
		}
		return c, nil
	case name != "":
		return kbCluster{}, fmt.Errorf("%s cluster %q not found in namespace %q (%s); check %s, or %s if it lives elsewhere", e.Title(), name, ns, describe(all), nameFlag, nsFlag)
	case len(cands) == 0:
		return kbCluster{}, fmt.Errorf("no KubeBlocks %s cluster in namespace %q (%s); create one, or point %s at its namespace", e.Title(), ns, describe(all), nsFlag)
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.name
	}
	return kbCluster{}, fmt.Errorf("%d %s clusters in namespace %q: %s; choose one with %s NAME", len(cands), e.Title(), ns, strings.Join(names, ", "), nameFlag)
}

// unusable lists the PostgreSQL and Redis clusters of every namespace
// looked at, other than the chosen ones, that Harbor cannot use: by
// namespace, then name.
func (d *discoverer) unusable(chosen ...kbCluster) []Unusable {
	var out []Unusable
	for _, ns := range slices.Sorted(maps.Keys(d.lists)) {
		for _, c := range d.lists[ns] {
			e := c.engine()
			if (e != PostgreSQL && e != Redis) || slices.ContainsFunc(chosen, func(x kbCluster) bool { return x.namespace == c.namespace && x.name == c.name }) {
				continue
			}
			if why := c.unusable(); why != "" {
				out = append(out, Unusable{Cluster: c.name, Namespace: c.namespace, Engine: e, Reason: why})
			}
		}
	}
	return out
}

// describe lists a namespace's clusters for messages.
func describe(all []kbCluster) string {
	if len(all) == 0 {
		return "it has no KubeBlocks clusters"
	}
	parts := make([]string, len(all))
	for i, c := range all {
		parts[i] = fmt.Sprintf("%s (%s)", c.name, c.server())
	}
	return "clusters there: " + strings.Join(parts, ", ")
}

// nsObjects are the KubeBlocks-managed objects of the chosen clusters in one namespace.
type nsObjects struct {
	services []corev1.Service
	secrets  []corev1.Secret
	pods     []corev1.Pod
}

// objects lists Services, Secrets and Pods of the clusters, one request
// per kind and namespace, concurrently; the label selector runs on the server.
func (d *discoverer) objects(ctx context.Context, clusters []kbCluster) (map[string]*nsObjects, error) {
	names := map[string][]string{}
	var order []string
	for _, c := range clusters {
		if _, ok := names[c.namespace]; !ok {
			order = append(order, c.namespace)
		}
		if !slices.Contains(names[c.namespace], c.name) {
			names[c.namespace] = append(names[c.namespace], c.name)
		}
	}
	out := map[string]*nsObjects{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 0, 3*len(order))
	for _, ns := range order {
		out[ns] = &nsObjects{}
		sort.Strings(names[ns])
		for resource, list := range d.objectLists(ctx, ns, InstanceSelector(names[ns]), out[ns]) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := list(); err != nil {
					mu.Lock()
					errs = append(errs, d.c.Explain(err, kube.Op{Verb: "list", Resource: resource, Namespace: ns}))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		// Deterministic: the same failure gives the same message.
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errs[0]
	}
	return out, nil
}

// objectLists are the three lists of a namespace's objects of the clusters
// selector selects, each filling o, by resource.
func (d *discoverer) objectLists(ctx context.Context, ns, selector string, o *nsObjects) map[string]func() error {
	opts := metav1.ListOptions{LabelSelector: selector}
	core := d.c.Typed.CoreV1()
	return map[string]func() error{
		"services": func() error {
			l, err := core.Services(ns).List(ctx, opts)
			if err == nil {
				o.services = l.Items
			}
			return err
		},
		"secrets": func() error {
			l, err := core.Secrets(ns).List(ctx, opts)
			if err == nil {
				o.secrets = l.Items
			}
			return err
		},
		"pods": func() error {
			l, err := core.Pods(ns).List(ctx, opts)
			if err == nil {
				o.pods = l.Items
			}
			return err
		},
	}
}
