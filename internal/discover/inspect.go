package discover

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/kube"
)

// Cluster is a KubeBlocks cluster as ListClusters reads it, for a command
// that starts from the address Harbor is configured with (doctor) instead
// of choosing a cluster: the same reading of every KubeBlocks shape that
// Discover makes.
type Cluster struct {
	Name, Namespace string
	Engine          Engine
	// Component is the component Harbor connects to, "" when there is none.
	Component string
	// Components are the names of every component, in the Cluster's order.
	Components []string
	// Unusable says why Harbor cannot use the cluster, "" when it can.
	Unusable string

	kb kbCluster
}

// Ref is namespace/name.
func (c Cluster) Ref() string { return c.Namespace + "/" + c.Name }

// ListClusters lists the Clusters of a namespace: one request (two on
// KubeBlocks before 1.0, where apps.kubeblocks.io/v1 is not served).
func ListClusters(ctx context.Context, c *kube.Client, ns string) ([]Cluster, error) {
	d := &discoverer{c: c, lists: map[string][]kbCluster{}}
	kbs, err := d.clusters(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := make([]Cluster, len(kbs))
	for i, kb := range kbs {
		out[i] = newCluster(kb)
	}
	return out, nil
}

func newCluster(kb kbCluster) Cluster {
	c := Cluster{Name: kb.name, Namespace: kb.namespace, Engine: kb.engine(), Unusable: kb.unusable(), kb: kb}
	if comp, ok := kb.dataComponent(c.Engine); ok {
		c.Component = comp.name
	}
	for _, comp := range kb.components {
		c.Components = append(c.Components, comp.name)
	}
	return c
}

// PrimaryService is the Service Discover gives Harbor for the cluster,
// chosen among services (its namespace's), and its port: a ClusterIP
// Service of the data component that selects the primary.
func (c Cluster) PrimaryService(services []corev1.Service) (*corev1.Service, int, error) {
	if c.Component == "" {
		return nil, 0, fmt.Errorf("%s cluster %s has no %s component (components: %s)", c.Engine.Title(), c.Ref(), c.Engine, componentNames(c.kb))
	}
	d := &discoverer{}
	svc, port, err := d.service(c.kb, c.Component, c.kb.facts(c.Engine), c.Engine.Title(), true, &nsObjects{services: services})
	if err != nil {
		return nil, 0, err
	}
	return svc, int(port), nil
}

// Choose picks the cluster of engine e among the clusters of namespace ns
// (as ListClusters returned them) the way Discover does when no cluster is
// named; the error is Discover's.
func Choose(ns string, clusters []Cluster, e Engine) (Cluster, error) {
	kbs := make([]kbCluster, len(clusters))
	for i, c := range clusters {
		kbs[i] = c.kb
	}
	d := &discoverer{lists: map[string][]kbCluster{ns: kbs}}
	flag := "--" + map[Engine]string{PostgreSQL: "pg", Redis: "redis"}[e]
	kb, err := d.choose(context.Background(), e, ns, "", flag, flag+"-namespace")
	if err != nil {
		return Cluster{}, err
	}
	return newCluster(kb), nil
}
