package lint

import (
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
		d.Open(), maxConn, assumed, harbor.ConnectionReserve, d.Shares())
}
