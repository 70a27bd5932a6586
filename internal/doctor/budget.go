package doctor

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
)

// KubeBlocks' postgresql addon writes max_connections from the memory
// limit of the pod's first container: memory / 9531392, at most 5000, and
// 10000 without a limit (addons/postgresql/config/pg{12..18}-config.tpl).
const (
	kbBytesPerConnection = 9531392
	kbMostConnections    = 5000
	kbUnlimitedMemory    = 10000
)

const budgetFix = "size Harbor's pools to fit: upgrade with `helm harborha upgrade` (it reads max_connections and post-renders the pools to fit), or give the cluster more memory; see lint rule HA019"

// budgetCheck reports whether Harbor's connection pools, at the live
// replica counts plus a rollout's surge, fit the PostgreSQL cluster's
// max_connections as KubeBlocks computes it from the pods' memory (doctor
// opens no database connection: a max_connections set by a parameter is
// not seen).
func (k *checker) budgetCheck(t *target) {
	subject := t.subject()
	if err := t.view.errs["pods"]; err != nil {
		k.r.unchecked(subject, "pools", err)
		return
	}
	d := k.rel.DatabaseDemand()
	if len(d.Pools) == 0 {
		return
	}
	maxConn, how := kubeBlocksMaxConnections(t)
	if maxConn == 0 {
		k.r.unchecked(subject, "pools", fmt.Errorf("no pod of cluster %s to read its memory, and so its max_connections, from", t.cluster.Ref()))
		return
	}
	if d.Fits(maxConn) {
		k.r.ok(subject, "pools", "Harbor opens %s connections (%s), within max_connections %d (%s) less %d kept for superusers and agents",
			d.Open(), d.Shares(), maxConn, how, harbor.ConnectionReserve)
		return
	}
	k.r.finding(subject, "pools", budgetFix, "Harbor can open %s connections (%s), above max_connections %d (%s) less %d kept for superusers and agents: under load PostgreSQL refuses logins with \"too many clients\"",
		d.Open(), d.Shares(), maxConn, how, harbor.ConnectionReserve)
}

// kubeBlocksMaxConnections is the cluster's max_connections by KubeBlocks'
// formula, and how it was found; 0 without a pod.
func kubeBlocksMaxConnections(t *target) (int, string) {
	for i := range t.view.pods {
		p := &t.view.pods[i]
		if p.Labels[discover.LabelInstance] != t.cluster.Name || p.Labels[discover.LabelComponent] != t.cluster.Component || len(p.Spec.Containers) == 0 {
			continue
		}
		c := p.Spec.Containers[0]
		mem, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || mem.IsZero() {
			return kbUnlimitedMemory, fmt.Sprintf("KubeBlocks' value for pod %s, whose container %s has no memory limit", p.Name, c.Name)
		}
		return min(int(mem.Value()/kbBytesPerConnection), kbMostConnections), fmt.Sprintf("KubeBlocks' memory / 9531392 for pod %s's %s limit", p.Name, mem.String())
	}
	return 0, ""
}
