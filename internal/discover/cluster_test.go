package discover

import "testing"

// The shape is read from the Cluster and its pods' labels; KubeBlocks 1.2
// no longer annotates the Cluster with its API version (#10469), so a 1.2
// Cluster written with componentDef but no clusterDef is known by its
// pods' release-phase label.
func TestShape(t *testing.T) {
	v1Pod := podLabels{labelInstanceSet: "InstanceSet", labelReleasePhase: "stable"}
	v09Pod := podLabels{labelInstanceSet: "InstanceSet"}
	compDef := []kbComponent{{name: "redis", def: "redis-7"}}
	legacy := []kbComponent{{name: "redis", def: "redis", legacy: true}}
	tests := []struct {
		name    string
		cluster kbCluster
		pods    []podLabels
		want    string
	}{
		{"1.0/1.1 annotation", kbCluster{crdAPIVersion: apiV1, components: compDef}, nil, "1.0"},
		{"clusterDef (a v1-only field)", kbCluster{v1Spec: true, components: compDef}, []podLabels{v09Pod}, "1.0"},
		{"1.2 componentDef without annotation: its pods' release-phase", kbCluster{components: compDef}, []podLabels{v1Pod}, "1.0"},
		{"0.9 componentDef", kbCluster{components: compDef}, []podLabels{v09Pod}, "0.9 componentDef"},
		{"0.9 topology", kbCluster{topology: "replication", components: compDef}, []podLabels{v09Pod}, "0.9 topology"},
		{"0.9 legacy", kbCluster{components: legacy}, []podLabels{v09Pod}, "0.9 legacy"},
		{"0.7 legacy", kbCluster{components: legacy}, []podLabels{{labelWorkloadType07: "Replication"}}, "0.7 legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cluster.shape(tt.pods); got != tt.want {
				t.Errorf("shape %q, want %q", got, tt.want)
			}
		})
	}
}

// Valkey is Redis to Harbor; its data and Sentinel components are found by
// definition, then by the addon's component names (hand-written CRs).
func TestRedisServer(t *testing.T) {
	tests := []struct {
		name                   string
		cluster                kbCluster
		engine                 Engine
		server, data, sentinel string
		port                   string
	}{
		{"Redis replication", kbCluster{clusterDef: "redis", components: []kbComponent{{name: "redis", def: "redis-7-1.0.2"}, {name: "redis-sentinel", def: "redis-sentinel-7-1.0.2"}}},
			Redis, "redis", "redis", "redis-sentinel", "redis"},
		{"Valkey replication (sentinel first, as the addon orders them)", kbCluster{clusterDef: "valkey", components: []kbComponent{{name: "valkey-sentinel", def: "valkey-sentinel-9"}, {name: "valkey", def: "valkey-9"}}},
			Redis, "valkey", "valkey", "valkey-sentinel", "valkey"},
		{"Valkey by definition, no clusterDef", kbCluster{components: []kbComponent{{name: "cache", def: "valkey-8"}}},
			Redis, "valkey", "cache", "", "valkey"},
		{"Valkey by component names, no definitions", kbCluster{components: []kbComponent{{name: "valkey-sentinel"}, {name: "valkey"}}},
			"unknown", "unknown", "", "", ""},
		{"Valkey by component names, clusterDef valkey", kbCluster{clusterDef: "valkey", components: []kbComponent{{name: "valkey-sentinel"}, {name: "valkey"}}},
			Redis, "valkey", "valkey", "valkey-sentinel", "valkey"},
		{"PostgreSQL", kbCluster{clusterDef: "postgresql", components: []kbComponent{{name: "postgresql", def: "postgresql-14-1.1.0-alpha.2"}}},
			PostgreSQL, "postgresql", "postgresql", "", "tcp-postgresql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cluster
			if e := c.engine(); e != tt.engine {
				t.Fatalf("engine %q, want %q", e, tt.engine)
			}
			if s := c.server(); s != tt.server {
				t.Errorf("server %q, want %q", s, tt.server)
			}
			if tt.engine != Redis && tt.engine != PostgreSQL {
				return
			}
			if d, _ := c.dataComponent(tt.engine); d.name != tt.data {
				t.Errorf("data component %q, want %q", d.name, tt.data)
			}
			if s, _ := c.sentinelComponent(); tt.engine == Redis && s.name != tt.sentinel {
				t.Errorf("sentinel component %q, want %q", s.name, tt.sentinel)
			}
			if p := c.facts(tt.engine).portName; p != tt.port {
				t.Errorf("port name %q, want %q", p, tt.port)
			}
		})
	}
}
