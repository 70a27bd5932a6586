package postrender

import (
	"encoding/json"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// DefaultMaxConnections is the PostgreSQL max_connections a budget
// assumes when --database-max-connections does not say (install and
// upgrade read it from the cluster): PostgreSQL's own default, and about
// what KubeBlocks' postgresql addon gives 1 GiB (memory / 9531392).
const DefaultMaxConnections = 100

// connMaxLifetime is how long a pooled connection lives. A switchover
// terminates every connection to the old primary (57P01) and, while
// kube-proxy still routes to it, new ones land on a server that no longer
// takes writes; database/sql closes a connection older than this when it
// is next taken from the pool, instead of handing it out. Shorter than a
// switchover (~2 s measured), no connection made before the new primary
// is ready is used after it; the price is a reconnect per connection every
// 2 s of use, little beside a registry's requests. Harbor's default is 5m.
const connMaxLifetime = "2s"

// poolBudget is the pool size each process gets and what it was sized
// from.
type poolBudget struct {
	maxConnections, pods, perPod int
}

// planPools sizes the release's pools so that every process that opens
// one, at its most pods plus a rollout's surge, fits max_connections
// after the reserve. A budget below MinPoolSize is raised to it, with a
// warning: the database is too small for the release.
func planPools(p *plan, rel *harbor.Release, o Knobs) poolBudget {
	b := poolBudget{maxConnections: o.DatabaseMaxConnections}
	if b.maxConnections == 0 {
		b.maxConnections = DefaultMaxConnections
	}
	for _, pool := range harbor.DatabasePools {
		if w := rel.Workload(pool.Component); w != nil {
			most := o.Most(w.Component, w.Kind, w.Replicas())
			b.pods += int(most + harbor.SurgePods(most))
		}
	}
	if b.pods == 0 {
		return b
	}
	b.perPod = (b.maxConnections - harbor.ConnectionReserve) / b.pods
	if b.perPod < harbor.MinPoolSize {
		p.warnf("PostgreSQL max_connections %d cannot hold %d pool(s) of %d connections (Harbor's pods at their most, a rollout's surge included) and a reserve of %d: raise max_connections (KubeBlocks: more memory, or the max_connections parameter), or run fewer replicas",
			b.maxConnections, b.pods, harbor.MinPoolSize, harbor.ConnectionReserve)
		b.perPod = harbor.MinPoolSize
	}
	return b
}

// poolOps set the pool of a component that opens one, in its container's
// environment (an env value wins over the chart's ConfigMap, and changing
// the pod template rolls the pods, which read their environment once).
// jobservice reads core's settings, so only core and exporter get them.
// ops are the workload's operations so far: the env they set (the Redis
// credentials' rewrite) is the one the variables join.
func poolOps(w *harbor.Workload, b poolBudget, ops []jsonOp) []jsonOp {
	if b.perPod == 0 {
		return ops
	}
	for _, pool := range harbor.DatabasePools {
		if pool.Component == w.Component && pool.Reads == w.Component {
			size := strconv.Itoa(b.perPod)
			return withEnv(w, w.Component, ops, []corev1.EnvVar{
				{Name: pool.MaxOpen, Value: size},
				{Name: pool.MaxIdle, Value: size},
				{Name: pool.Lifetime, Value: connMaxLifetime},
			})
		}
	}
	return ops
}

// withEnv sets literal env values on the named container: a variable
// already there gets the value in place, a new one is appended. The
// container's env is set whole, over the one ops set if they do.
func withEnv(w *harbor.Workload, container string, ops []jsonOp, vars []corev1.EnvVar) []jsonOp {
	for _, c := range w.Containers() {
		if c.Name != container {
			continue
		}
		path := c.Path + "/env"
		env, at := append([]corev1.EnvVar{}, c.Env...), -1
		for i, op := range ops {
			if op.Path == path {
				at, env = i, envOf(op.Value)
			}
		}
		for _, v := range vars {
			if i := envIndex(env, v.Name); i >= 0 {
				env[i] = v
			} else {
				env = append(env, v)
			}
		}
		switch {
		case at >= 0:
			ops[at] = set(path, toMap(env))
		case !equalJSON(c.Env, env):
			ops = append(ops, set(path, toMap(env)))
		}
		return ops
	}
	return ops
}

// envOf reads back an env list an operation holds (toMap's form).
func envOf(v any) []corev1.EnvVar {
	var env []corev1.EnvVar
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &env)
	}
	if err != nil {
		return nil
	}
	return env
}

// envIndex is the index of the last env entry named name (the one the
// kubelet uses), or -1.
func envIndex(env []corev1.EnvVar, name string) int {
	for i := len(env) - 1; i >= 0; i-- {
		if env[i].Name == name {
			return i
		}
	}
	return -1
}
