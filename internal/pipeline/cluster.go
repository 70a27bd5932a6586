package pipeline

import (
	"context"
	"sync"

	"helm.sh/helm/v3/pkg/cli"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
)

// Cluster is a run's one connection, made as Helm connects (its
// settings), and the Nodes listed once: an install's preflight and
// discovery's node address share one list.
type Cluster struct {
	settings *cli.EnvSettings
	client   *kube.Client

	nodesOnce sync.Once
	nodes     []corev1.Node
	nodesErr  error
	listed    bool
}

// NewCluster is the connection settings describe; nothing is asked yet.
func NewCluster(settings *cli.EnvSettings) *Cluster { return &Cluster{settings: settings} }

// ClusterOf is the cluster of a client already connected.
func ClusterOf(c *kube.Client) *Cluster { return &Cluster{settings: c.Settings, client: c} }

// Settings are Helm's settings the run connects with.
func (c *Cluster) Settings() *cli.EnvSettings { return c.settings }

// Client connects once; a failed connection is not kept, so that each
// asker reports it.
func (c *Cluster) Client() (*kube.Client, error) {
	if c.client == nil {
		k, err := kube.Connect(c.settings, kube.Options{})
		if err != nil {
			return nil, err
		}
		c.client = k
	}
	return c.client, nil
}

// Nodes lists every node, once.
func (c *Cluster) Nodes(ctx context.Context) ([]corev1.Node, error) {
	k, err := c.Client()
	if err != nil {
		return nil, err
	}
	c.nodesOnce.Do(func() {
		var l *corev1.NodeList
		if l, c.nodesErr = k.Typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); c.nodesErr == nil {
			c.nodes = l.Items
		}
		c.listed = true
	})
	return c.nodes, c.nodesErr
}

// listedNodes hands discovery the list preflight made; nil when none was
// made (discovery then lists one page of its own).
func (c *Cluster) listedNodes() func(context.Context) ([]corev1.Node, error) {
	if !c.listed {
		return nil
	}
	return c.Nodes
}

// HelmSettings are Helm's settings from the environment with the
// connection flags among Helm's arguments applied: Helm strips them from
// a plugin's arguments, but the binary may run on its own.
func HelmSettings(r *helmexec.Release) *cli.EnvSettings {
	settings := kube.NewFlags().Settings()
	if r.Namespace != "" {
		settings.SetNamespace(r.Namespace)
	}
	if r.KubeContext != "" {
		settings.KubeContext = r.KubeContext
	}
	if r.KubeConfig != "" {
		settings.KubeConfig = r.KubeConfig
	}
	return settings
}

// HelmValues are the release's value flags as Helm's own code merges them.
func HelmValues(v helmexec.ValueFlags) helmvalues.Options {
	return helmvalues.Options{ValueFiles: v.Files, Values: v.Set, StringValues: v.SetString,
		FileValues: v.SetFile, JSONValues: v.SetJSON, LiteralValues: v.SetLiteral}
}
