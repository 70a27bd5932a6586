package lint

import (
	"fmt"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// HA019
func checkConnectionBudget(c *checker) {
	d := c.model.DatabaseDemand()
	maxConn, assumed := c.maxConnections, ""
	if maxConn == 0 {
		maxConn, assumed = c.model.AssumedMaxConnections(), " (assumed; with --post-render, give the cluster's as --database-max-connections)"
	}
	if len(d.Pools) == 0 || d.Fits(maxConn) {
		return
	}
	c.report(d.Pools[0].Workload.Doc, "Harbor can open %s PostgreSQL connections, max_connections is %d%s with %d kept for superusers and agents: %s; past the limit PostgreSQL refuses logins with \"too many clients\" (goharbor/harbor#16631)",
		demandText(d), maxConn, assumed, harbor.ConnectionReserve, poolsText(d))
}

// demandText is the most connections the pools open: a number, or
// "unlimited".
func demandText(d harbor.Demand) string {
	if d.Unlimited {
		return "an unlimited number of"
	}
	return fmt.Sprintf("up to %d", d.Total)
}

// poolsText lists each pool's share: "core 3 pods x 900 (ConfigMap ...)".
func poolsText(d harbor.Demand) string {
	var parts []string
	for _, p := range d.Pools {
		size := fmt.Sprint(p.PerPod)
		if p.PerPod == 0 {
			size = "unlimited"
		}
		parts = append(parts, fmt.Sprintf("%s %d pods (a rollout's surge included) x %s (%s)", p.Pool.Component, p.Pods, size, p.Where))
	}
	return strings.Join(parts, ", ")
}
