package postrender

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// checkLevers asserts what the levers mean on a post-rendered release:
// every container of a serving component pauses before it is stopped,
// within a grace that leaves the process its own 30 s; the pools of every
// process that opens one, at the most pods with a rollout's surge, fit
// max_connections after the reserve (or are at the floor, warned about);
// no pooled connection lives longer than a switchover.
func checkLevers(t *testing.T, rel *harbor.Release, o Knobs) {
	t.Helper()
	for _, w := range rel.Components() {
		if o.PreStopSleep == 0 || !slices.Contains(drained, w.Component) {
			continue
		}
		spec := w.Template().Spec
		for _, c := range spec.Containers {
			if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != int64(o.PreStopSleep) {
				t.Errorf("%s container %s: no preStop sleep of %d s", w.Name(), c.Name, o.PreStopSleep)
			}
		}
		if g := grace(spec); g < int64(o.PreStopSleep)+processGrace {
			t.Errorf("%s: grace %d s does not hold the %d s pause and the process's %d s", w.Name(), g, o.PreStopSleep, processGrace)
		}
	}
	checkRegistryDrain(t, rel, o)
	checkPools(t, rel, o)
}

// checkRegistryDrain: the registry finishes its requests when told to
// stop, within the grace the pause leaves it.
func checkRegistryDrain(t *testing.T, rel *harbor.Release, o Knobs) {
	t.Helper()
	for _, w := range rel.Components() {
		if w.Component != "registry" {
			continue
		}
		for _, c := range w.Containers() {
			if c.Name != "registry" {
				continue
			}
			i := envIndex(c.Env, RegistryDrainEnv)
			if i < 0 {
				t.Errorf("%s container registry: no %s", w.Name(), RegistryDrainEnv)
				continue
			}
			d, err := time.ParseDuration(c.Env[i].Value)
			if left := time.Duration(grace(w.Template().Spec)-int64(o.PreStopSleep)) * time.Second; err != nil || d <= 0 || d >= left {
				t.Errorf("%s container registry: %s=%q, want a duration within the %v the pause leaves of the grace", w.Name(), RegistryDrainEnv, c.Env[i].Value, left)
			}
		}
	}
}

// TestRegistryDrainKept: a drain timeout the chart's user set is kept.
func TestRegistryDrainKept(t *testing.T) {
	const stream = `apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-registry, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: registry}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: registry}}
    spec: {containers: [{name: registry, env: [{name: REGISTRY_HTTP_DRAINTIMEOUT, value: 10s}]}, {name: registryctl}]}
`
	rel, _ := renderCredentials(t, DefaultKnobs(), stream)
	for _, c := range rel.Workload("registry").Containers() {
		i := envIndex(c.Env, RegistryDrainEnv)
		switch {
		case c.Name == "registry" && (i < 0 || c.Env[i].Value != "10s" || len(c.Env) != 1):
			t.Errorf("registry env %+v, want the user's %s=10s alone", c.Env, RegistryDrainEnv)
		case c.Name == "registryctl" && i >= 0:
			t.Errorf("registryctl got %s: only the registry serves blobs", RegistryDrainEnv)
		}
	}
}

func checkPools(t *testing.T, rel *harbor.Release, o Knobs) {
	t.Helper()
	maxConn := o.DatabaseMaxConnections
	if maxConn == 0 {
		maxConn = rel.AssumedMaxConnections()
	}
	d := rel.DatabaseDemand()
	floor := false
	for _, p := range d.Pools {
		floor = floor || p.PerPod == harbor.MinPoolSize
		reads := rel.Workload(p.Pool.Reads)
		if v, _, _ := reads.EnvSetting(rel.Sources(), p.Pool.Reads, p.Pool.Lifetime); v != connMaxLifetime {
			t.Errorf("%s: connections live %q, want %s", p.Workload.Name(), v, connMaxLifetime)
		}
	}
	if !d.Fits(maxConn) && !floor {
		t.Errorf("pools open up to %d connections (unlimited: %v), max_connections %d keeps %d for Harbor", d.Total, d.Unlimited, maxConn, maxConn-harbor.ConnectionReserve)
	}
}

// TestPoolBudget: the pools are sized from max_connections and the pods
// that open one; a database too small for the release is warned about.
func TestPoolBudget(t *testing.T) {
	stream := coreRelease + exporterAndJobservice
	for _, tc := range []struct {
		maxConn  int
		replicas string
		want     int
		warn     bool
	}{
		{0, "2", (DefaultMaxConnections - harbor.ConnectionReserve) / 9, false}, // 3 components × (2 + 1 surge)
		{500, "2", (500 - harbor.ConnectionReserve) / 9, false},
		{500, "core=8", (500 - harbor.ConnectionReserve) / (10 + 3 + 3), false},
		{30, "2", harbor.MinPoolSize, true},
	} {
		o := DefaultKnobs()
		o.DatabaseMaxConnections = tc.maxConn
		if err := (replicasValue{&o.Replicas}).Set(tc.replicas); err != nil {
			t.Fatal(err)
		}
		rel, warnings := renderCredentials(t, o, stream)
		for _, p := range harbor.DatabasePools {
			if n, where := rel.PoolMaxOpen(p); n != tc.want {
				t.Errorf("max_connections %d, --replicas %s: %s pool %d (%s), want %d", tc.maxConn, tc.replicas, p.Component, n, where, tc.want)
			}
		}
		if got := strings.Contains(warnings, "max_connections "+strconv.Itoa(tc.maxConn)+" cannot hold"); got != tc.warn {
			t.Errorf("max_connections %d: warned %v, want %v:\n%s", tc.maxConn, got, tc.warn, warnings)
		}
	}
}

// exporterAndJobservice join coreRelease: the two other processes that
// open a pool (jobservice with core's settings).
const exporterAndJobservice = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-jobservice, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: jobservice}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: jobservice}}
    spec: {containers: [{name: jobservice}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-exporter, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: exporter}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: exporter}}
    spec: {containers: [{name: exporter, env: [{name: HARBOR_DATABASE_MAX_OPEN_CONNS, value: "900"}]}]}
`
