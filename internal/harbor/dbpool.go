package harbor

import (
	"strconv"
	"strings"
)

// DatabasePool is where a component's process reads the settings of its
// PostgreSQL connection pool (Harbor v2.15.1): core from its environment
// (src/lib/config/metadata/metadatalist.go:110-113, defaults 2 idle,
// 0 = unlimited open, 5m lifetime, no idle limit), jobservice from core
// over its internal config API (src/jobservice/job/impl/context.go:88,
// one pool of the same size per pod), exporter from its own HARBOR_DATABASE_*
// variables (src/cmd/exporter/main.go:50-56). registry, portal, nginx
// and trivy open none.
type DatabasePool struct {
	Component string
	// Reads is the component whose variables set the pool: its own, or
	// core's for jobservice.
	Reads                                string
	MaxOpen, MaxIdle, Lifetime, IdleTime string
	// Host, Port, SSLMode and Password are the variables of Reads'
	// container that say where the database is and how to log in
	// (src/lib/config/metadata/metadatalist.go, src/cmd/exporter/main.go).
	Host, Port, SSLMode, Password string
}

var corePool = DatabasePool{Component: "core", Reads: "core", MaxOpen: "POSTGRESQL_MAX_OPEN_CONNS", MaxIdle: "POSTGRESQL_MAX_IDLE_CONNS",
	Lifetime: "POSTGRESQL_CONN_MAX_LIFETIME", IdleTime: "POSTGRESQL_CONN_MAX_IDLE_TIME",
	Host: "POSTGRESQL_HOST", Port: "POSTGRESQL_PORT", SSLMode: "POSTGRESQL_SSLMODE", Password: "POSTGRESQL_PASSWORD"}

// DatabasePools are the components that open a pool, core first.
var DatabasePools = []DatabasePool{
	corePool,
	jobservicePool(corePool),
	{Component: "exporter", Reads: "exporter", MaxOpen: "HARBOR_DATABASE_MAX_OPEN_CONNS", MaxIdle: "HARBOR_DATABASE_MAX_IDLE_CONNS",
		Lifetime: "HARBOR_DATABASE_CONN_MAX_LIFETIME", IdleTime: "HARBOR_DATABASE_CONN_MAX_IDLE_TIME",
		Host: "HARBOR_DATABASE_HOST", Port: "HARBOR_DATABASE_PORT", SSLMode: "HARBOR_DATABASE_SSLMODE", Password: "HARBOR_DATABASE_PASSWORD"},
}

// jobservicePool is jobservice's pool: core's settings, read from core.
func jobservicePool(core DatabasePool) DatabasePool {
	core.Component = "jobservice"
	return core
}

// PoolOf is the pool a component opens; ok is false for one that opens
// none.
func PoolOf(component string) (DatabasePool, bool) {
	for _, p := range DatabasePools {
		if p.Component == component {
			return p, true
		}
	}
	return DatabasePool{}, false
}

// ConnectionReserve are the connections a budget keeps for others than
// Harbor's pools: PostgreSQL's superuser_reserved_connections (3), the
// KubeBlocks agents and metrics exporter, bootstrap's Job, and core's
// schema migration as a pod starts (a connection of its own).
const ConnectionReserve = 10

// MinPoolSize is the smallest pool a budget gives a process: below it,
// requests queue for connections in normal use.
const MinPoolSize = 4

// SurgePods are the extra pods a rolling update of n pods runs at once
// (a Deployment's default maxSurge, 25% rounded up): their pools open
// while the old pods' are still open.
func SurgePods(n int32) int32 { return (n + 3) / 4 }

// EnvSetting is the value of a container's environment variable: a
// literal env value (the last one wins, as in the kubelet), else the key
// of a ConfigMap it reads whole (envFrom, the chart's way), with where it
// was found. ok is false when the variable is not set.
func (w *Workload) EnvSetting(sources *Sources, container, name string) (value, where string, ok bool) {
	for _, c := range w.Template().Spec.Containers {
		if c.Name != container {
			continue
		}
		for i := len(c.Env) - 1; i >= 0; i-- {
			if e := c.Env[i]; e.Name == name && e.ValueFrom == nil {
				return e.Value, w.Kind + " " + w.Name() + " container " + c.Name + " env " + name, true
			}
		}
		for i := len(c.EnvFrom) - 1; i >= 0; i-- {
			e := c.EnvFrom[i]
			if e.ConfigMapRef == nil || !strings.HasPrefix(name, e.Prefix) {
				continue
			}
			cm := sources.Get("ConfigMap", w.Namespace(), e.ConfigMapRef.Name)
			if v, found := cm.dataValue(strings.TrimPrefix(name, e.Prefix)); found {
				return v, "ConfigMap " + cm.Name() + " key " + name, true
			}
		}
	}
	return "", "", false
}

// PoolMaxOpen is the most connections one pod of the pool's component
// opens, with where that was read; 0 means unlimited (Harbor's default
// when the variable is unset or 0: database/sql then opens as many as
// requests ask for).
func (r *Release) PoolMaxOpen(p DatabasePool) (n int, where string) {
	reads := r.Workload(p.Reads)
	if reads == nil {
		return 0, ""
	}
	v, where, ok := reads.EnvSetting(r.Sources(), p.Reads, p.MaxOpen)
	if !ok {
		return 0, reads.Kind + " " + reads.Name() + " (" + p.MaxOpen + " unset)"
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, where
	}
	return n, where
}

// dataValue is key's value, on a nil Source none.
func (s *Source) dataValue(key string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.Data[key]
	return v, ok
}

// Assumed max_connections when the cluster's is not known: PostgreSQL's
// default (about what KubeBlocks' postgresql addon gives 1 GiB: memory /
// 9531392, addons/postgresql/config/pg16-config.tpl), and the harbor-db
// image's for the chart's internal database (POSTGRES_MAX_CONNECTIONS,
// make/photon/db/docker-entrypoint.sh).
const (
	DefaultMaxConnections  = 100
	InternalMaxConnections = 1024
)

// AssumedMaxConnections is the max_connections a budget assumes for the
// release's database when nobody said: the internal one's, or
// DefaultMaxConnections.
func (r *Release) AssumedMaxConnections() int {
	if r.Workload("database") != nil {
		return InternalMaxConnections
	}
	return DefaultMaxConnections
}

// PoolDemand is one component's share of the database's connections.
type PoolDemand struct {
	Pool     DatabasePool
	Workload *Workload
	// Pods are its most pods (spec.replicas, or its autoscaler's maximum)
	// plus a rollout's surge.
	Pods   int
	PerPod int // 0: unlimited
	Where  string
}

// Demand is what the release's pools can open at most.
type Demand struct {
	Pools     []PoolDemand
	Total     int  // the bounded pools' sum
	Unlimited bool // a pool has no bound: Harbor opens what requests ask for
}

// DatabaseDemand is the most connections the release's processes open.
func (r *Release) DatabaseDemand() Demand {
	var d Demand
	for _, p := range DatabasePools {
		w := r.Workload(p.Component)
		if w == nil {
			continue
		}
		_, most := r.Scale(w)
		n, where := r.PoolMaxOpen(p)
		pd := PoolDemand{Pool: p, Workload: w, Pods: int(most + SurgePods(most)), PerPod: n, Where: where}
		d.Pools = append(d.Pools, pd)
		d.Total += pd.Pods * n
		d.Unlimited = d.Unlimited || n == 0
	}
	return d
}

// Fits reports whether the demand fits maxConnections after the reserve.
func (d Demand) Fits(maxConnections int) bool {
	return !d.Unlimited && d.Total <= maxConnections-ConnectionReserve
}

// Open is the most connections the pools open, in words: "up to 60", or
// "an unlimited number of".
func (d Demand) Open() string {
	if d.Unlimited {
		return "an unlimited number of"
	}
	return "up to " + strconv.Itoa(d.Total)
}

// Shares lists each pool's share: "core 3 pods x 900 (ConfigMap
// myharbor-core key POSTGRESQL_MAX_OPEN_CONNS), ...".
func (d Demand) Shares() string {
	var parts []string
	for _, p := range d.Pools {
		size := strconv.Itoa(p.PerPod)
		if p.PerPod == 0 {
			size = "unlimited"
		}
		parts = append(parts, p.Pool.Component+" "+strconv.Itoa(p.Pods)+" pods x "+size+" ("+p.Where+")")
	}
	return strings.Join(parts, ", ")
}
