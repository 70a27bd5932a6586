package lint

import (
	"time"

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

// longestLifetime is the longest connection lifetime HA020 accepts: a
// connection older than a switchover (1-2 s on the real node) is one the
// switchover may have killed; Harbor's 5m keeps such connections in use.
const longestLifetime = 10 * time.Second

// HA020
func checkConnectionLifetime(c *checker) {
	core := c.model.Workload("core")
	if core == nil {
		return
	}
	const name = "POSTGRESQL_CONN_MAX_LIFETIME"
	v, where, ok := core.EnvSetting(c.model.Sources(), "core", name)
	if !ok {
		v, where = "5m", name+" unset: Harbor's default"
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 && d <= longestLifetime {
		return
	}
	c.report(core.Doc, "core keeps a pooled database connection for %s (%s), jobservice too (it takes core's): after a PostgreSQL switchover or failover each connection made before it fails one request (SQLSTATE 57P01, or read-only on the demoted primary) when next used", v, where)
}
