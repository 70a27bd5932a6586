package lint

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/postrender"
)

const (
	dpl = "Deployment"
	sts = "StatefulSet"
	pdb = "PodDisruptionBudget"
	cm  = "ConfigMap"
	pvc = "PersistentVolumeClaim"
)

// ruleCase changes the baseline release and lists the findings one rule
// must report: none for a negative case.
type ruleCase struct {
	rule   string
	name   string
	change func(f *fixture)
	want   []string // "RULE Kind/name severity"
	// msg, when set, must appear in the (first) finding's message.
	msg string
}

var ruleCases = []ruleCase{
	// HA015
	{rule: "HA015", name: "replicas pinned under an autoscaler", change: func(f *fixture) {
		autoscaled(f, "myharbor-core", 2, 5)
		f.set(dpl, "myharbor-core", "2", "spec", "replicas")
	}, want: []string{"HA015 Deployment/myharbor-core error"}, msg: "every helm upgrade and GitOps sync sets the count back to 2"},
	{rule: "HA015", name: "pinned trivy under an autoscaler is a warning", change: func(f *fixture) {
		f.add("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: myharbor-trivy, namespace: harbor}\n" +
			"spec: {scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: myharbor-trivy}, minReplicas: 2, maxReplicas: 3}\n")
	}, want: []string{"HA015 StatefulSet/myharbor-trivy warning"}},
	{rule: "HA015", name: "an autoscaler of another kind's name", change: func(f *fixture) {
		f.add("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: myharbor-core, namespace: harbor}\n" +
			"spec: {scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: myharbor-core}, minReplicas: 2, maxReplicas: 3}\n")
	}},
	{rule: "HA015", name: "replicas left to the autoscaler", change: func(f *fixture) { autoscaled(f, "myharbor-core", 2, 5) }},

	// HA016
	{rule: "HA016", name: "CPU autoscaler without CPU requests", change: func(f *fixture) {
		autoscaled(f, "myharbor-core", 2, 5)
		setCoreResources(f, "{limits: {memory: 1Gi}}")
	}, want: []string{"HA016 Deployment/myharbor-core warning"}, msg: "container core requests no CPU"},
	{rule: "HA016", name: "a CPU limit is the request", change: func(f *fixture) {
		autoscaled(f, "myharbor-core", 2, 5)
		setCoreResources(f, "{limits: {cpu: 500m}}")
	}},
	{rule: "HA016", name: "a memory autoscaler needs no CPU request", change: func(f *fixture) {
		f.del(dpl, "myharbor-core", "spec", "replicas")
		f.add("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: myharbor-core, namespace: harbor}\n" +
			"spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: myharbor-core}, minReplicas: 2, maxReplicas: 4, " +
			"metrics: [{type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 80}}}]}\n")
	}},

	// HA001
	{rule: "HA001", name: "one core replica", change: func(f *fixture) { f.set(dpl, "myharbor-core", "1", "spec", "replicas") },
		want: []string{"HA001 Deployment/myharbor-core error"}, msg: "core runs 1 replica"},
	{rule: "HA001", name: "replicas unset means one", change: func(f *fixture) { f.del(dpl, "myharbor-core", "spec", "replicas") },
		want: []string{"HA001 Deployment/myharbor-core error"}},
	{rule: "HA001", name: "scaled to zero", change: func(f *fixture) { f.set(dpl, "myharbor-registry", "0", "spec", "replicas") },
		want: []string{"HA001 Deployment/myharbor-registry error"}, msg: "does not run at all"},
	{rule: "HA001", name: "one trivy replica is a warning", change: func(f *fixture) { f.set(sts, "myharbor-trivy", "1", "spec", "replicas") },
		want: []string{"HA001 StatefulSet/myharbor-trivy warning"}},
	{rule: "HA001", name: "two replicas everywhere", change: func(*fixture) {}},
	{rule: "HA001", name: "an autoscaler down to one", change: func(f *fixture) { autoscaled(f, "myharbor-core", 1, 5) },
		want: []string{"HA001 Deployment/myharbor-core error"}, msg: "core runs 1 replica (HorizontalPodAutoscaler myharbor-core's minimum)"},
	{rule: "HA001", name: "an autoscaler from two, replicas unset", change: func(f *fixture) { autoscaled(f, "myharbor-core", 2, 5) }},
	{rule: "HA001", name: "the internal database is HA009's", change: addDatabase},

	// HA002
	{rule: "HA002", name: "no anti-affinity and no spread", change: func(f *fixture) { f.del(dpl, "myharbor-core", "spec", "template", "spec", "affinity") },
		want: []string{"HA002 Deployment/myharbor-core error"}, msg: "may put them all on one node"},
	{rule: "HA002", name: "anti-affinity against another component only", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", `[{weight: 1, podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {component: portal}}}}]`,
			"spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
	}, want: []string{"HA002 Deployment/myharbor-core error"}},
	{rule: "HA002", name: "anti-affinity only in another namespace", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", `[{weight: 1, podAffinityTerm: {topologyKey: kubernetes.io/hostname, namespaces: [other], labelSelector: {matchLabels: {component: core}}}}]`,
			"spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
	}, want: []string{"HA002 Deployment/myharbor-core error"}},
	{rule: "HA002", name: "trivy without spread is a warning", change: func(f *fixture) { f.del(sts, "myharbor-trivy", "spec", "template", "spec", "affinity") },
		want: []string{"HA002 StatefulSet/myharbor-trivy warning"}},
	{rule: "HA002", name: "a spread constraint is enough", change: func(f *fixture) {
		f.del(dpl, "myharbor-core", "spec", "template", "spec", "affinity")
		f.set(dpl, "myharbor-core", `[{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {component: core}}}]`,
			"spec", "template", "spec", "topologySpreadConstraints")
	}},
	{rule: "HA002", name: "a single replica needs no spread", change: func(f *fixture) {
		f.del(dpl, "myharbor-core", "spec", "template", "spec", "affinity")
		f.set(dpl, "myharbor-core", "1", "spec", "replicas")
	}},

	// HA003
	{rule: "HA003", name: "anti-affinity on a label the pods lack", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", `[{weight: 1, podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app.kubernetes.io/component: core}}}}]`,
			"spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
	}, want: []string{"HA003 Deployment/myharbor-core error"}, msg: "the pods have no label app.kubernetes.io/component"},
	{rule: "HA003", name: "spread constraint on a label the pods lack", change: func(f *fixture) {
		f.set(dpl, "myharbor-registry", `[{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {component: registry, tier: storage}}}]`,
			"spec", "template", "spec", "topologySpreadConstraints")
	}, want: []string{"HA003 Deployment/myharbor-registry error"}, msg: "the pods have no label tier"},
	{rule: "HA003", name: "budget with a wrong app label", change: func(f *fixture) {
		f.set(pdb, "myharbor-core", `{matchLabels: {release: myharbor, app: harbour, component: core}}`, "spec", "selector")
	}, want: []string{"HA003 PodDisruptionBudget/myharbor-core error"}, msg: "the pods have app=harbor"},
	{rule: "HA003", name: "budget named after the workload with an empty selector", change: func(f *fixture) {
		f.set(pdb, "myharbor-core", `{}`, "spec", "selector")
	}, want: []string{"HA003 PodDisruptionBudget/myharbor-core error"}, msg: "empty selector"},
	{rule: "HA003", name: "budget in another namespace", change: func(f *fixture) {
		f.obj(pdb, "myharbor-core").SetNamespace("elsewhere")
	}, want: []string{"HA003 PodDisruptionBudget/myharbor-core error"}, msg: "in namespace elsewhere"},
	{rule: "HA003", name: "a term about another component is not a mismatch", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", `[{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {component: database}}}]`,
			"spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
	}},
	{rule: "HA003", name: "a term about another release is not a mismatch", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", `[{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {component: core, release: other, app: x}}}]`,
			"spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
	}},

	// HA004
	{rule: "HA004", name: "no budget for core", change: func(f *fixture) { f.remove(pdb, "myharbor-core") },
		want: []string{"HA004 Deployment/myharbor-core error"}},
	{rule: "HA004", name: "no budget for trivy is a warning", change: func(f *fixture) { f.remove(pdb, "myharbor-trivy") },
		want: []string{"HA004 StatefulSet/myharbor-trivy warning"}},
	{rule: "HA004", name: "one replica needs no budget", change: func(f *fixture) {
		f.remove(pdb, "myharbor-core")
		f.set(dpl, "myharbor-core", "1", "spec", "replicas")
	}},

	// HA005
	{rule: "HA005", name: "minAvailable equals replicas", change: func(f *fixture) { f.set(pdb, "myharbor-core", "2", "spec", "minAvailable") },
		want: []string{"HA005 PodDisruptionBudget/myharbor-core error"}, msg: "minAvailable 2 with 2 replicas"},
	{rule: "HA005", name: "minAvailable 100%", change: func(f *fixture) { f.set(pdb, "myharbor-core", "100%", "spec", "minAvailable") },
		want: []string{"HA005 PodDisruptionBudget/myharbor-core error"}},
	{rule: "HA005", name: "maxUnavailable 0", change: func(f *fixture) { f.set(pdb, "myharbor-registry", "0", "spec", "maxUnavailable") },
		want: []string{"HA005 PodDisruptionBudget/myharbor-registry error"}},
	{rule: "HA005", name: "two budgets for one component", change: func(f *fixture) { f.copyOf(pdb, "myharbor-core", "myharbor-core-extra") },
		want: []string{"HA005 Deployment/myharbor-core error"}, msg: "more than one budget"},
	{rule: "HA005", name: "minAvailable 1 of 3", change: func(f *fixture) { f.set(dpl, "myharbor-core", "3", "spec", "replicas") }},
	{rule: "HA005", name: "minAvailable at the autoscaler's minimum", change: func(f *fixture) {
		autoscaled(f, "myharbor-core", 2, 5)
		f.set(pdb, "myharbor-core", "2", "spec", "minAvailable")
	}, want: []string{"HA005 PodDisruptionBudget/myharbor-core error"}, msg: "minAvailable 2 with 2 replicas (HorizontalPodAutoscaler myharbor-core's minimum)"},
	{rule: "HA005", name: "minAvailable below the autoscaler's minimum", change: func(f *fixture) { autoscaled(f, "myharbor-core", 3, 5) }},
	{rule: "HA005", name: "maxUnavailable 10% rounds up to one", change: func(f *fixture) { f.set(pdb, "myharbor-registry", "10%", "spec", "maxUnavailable") }},

	// HA006
	{rule: "HA006", name: "Recreate with two replicas", change: func(f *fixture) { f.set(dpl, "myharbor-registry", "{type: Recreate}", "spec", "strategy") },
		want: []string{"HA006 Deployment/myharbor-registry error"}},
	{rule: "HA006", name: "Recreate with one replica", change: func(f *fixture) {
		f.set(dpl, "myharbor-registry", "{type: Recreate}", "spec", "strategy")
		f.set(dpl, "myharbor-registry", "1", "spec", "replicas")
	}},

	// HA007
	{rule: "HA007", name: "Recreate with a rollingUpdate block", change: func(f *fixture) {
		f.set(dpl, "myharbor-registry", "{type: Recreate, rollingUpdate: {maxSurge: 1}}", "spec", "strategy")
		f.set(dpl, "myharbor-registry", "1", "spec", "replicas")
	}, want: []string{"HA007 Deployment/myharbor-registry error"}, msg: "while the type is Recreate"},
	{rule: "HA007", name: "no surge and no unavailability", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", "{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}}", "spec", "strategy")
	}, want: []string{"HA007 Deployment/myharbor-core error"}, msg: "maxSurge 0 and maxUnavailable 0"},
	{rule: "HA007", name: "unknown strategy type", change: func(f *fixture) { f.set(dpl, "myharbor-core", "{type: BlueGreen}", "spec", "strategy") },
		want: []string{"HA007 Deployment/myharbor-core error"}},
	{rule: "HA007", name: "maxUnavailable over 100%", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", "{rollingUpdate: {maxUnavailable: 150%}}", "spec", "strategy")
	}, want: []string{"HA007 Deployment/myharbor-core error"}, msg: "must not exceed 100%"},
	{rule: "HA007", name: "OnDelete StatefulSet with rollingUpdate", change: func(f *fixture) {
		f.set(sts, "myharbor-trivy", "{type: OnDelete, rollingUpdate: {partition: 0}}", "spec", "updateStrategy")
	}, want: []string{"HA007 StatefulSet/myharbor-trivy error"}},
	{rule: "HA007", name: "budget with minAvailable and maxUnavailable", change: func(f *fixture) { f.set(pdb, "myharbor-core", "1", "spec", "maxUnavailable") },
		want: []string{"HA007 PodDisruptionBudget/myharbor-core error"}},
	{rule: "HA007", name: "budget with a non-number", change: func(f *fixture) { f.set(pdb, "myharbor-core", "one", "spec", "minAvailable") },
		want: []string{"HA007 PodDisruptionBudget/myharbor-core error"}, msg: "integer or a percentage"},
	{rule: "HA007", name: "no surge alone is fine (maxUnavailable defaults to 25%)", change: func(f *fixture) {
		f.set(dpl, "myharbor-core", "{rollingUpdate: {maxSurge: 0}}", "spec", "strategy")
	}},
	{rule: "HA007", name: "Recreate with rollingUpdate null, as the chart writes it", change: func(f *fixture) {
		f.set(dpl, "myharbor-registry", "{type: Recreate, rollingUpdate: null}", "spec", "strategy")
	}},

	// HA008
	{rule: "HA008", name: "two registries on a ReadWriteOnce claim", change: func(f *fixture) {
		f.set(pvc, "myharbor-registry", "[ReadWriteOnce]", "spec", "accessModes")
	}, want: []string{"HA008 Deployment/myharbor-registry error"}, msg: "Multi-Attach"},
	{rule: "HA008", name: "one registry on a ReadWriteOnce claim", change: func(f *fixture) {
		f.set(pvc, "myharbor-registry", "[ReadWriteOnce]", "spec", "accessModes")
		f.set(dpl, "myharbor-registry", "1", "spec", "replicas")
	}},
	{rule: "HA008", name: "a claim the chart did not render (existingClaim)", change: func(f *fixture) { f.remove(pvc, "myharbor-registry") }},

	// HA009
	{rule: "HA009", name: "internal database", change: addDatabase,
		want: []string{"HA009 StatefulSet/myharbor-database error"}, msg: "internal PostgreSQL"},
	{rule: "HA009", name: "external database", change: func(*fixture) {}},

	// HA010
	{rule: "HA010", name: "externalURL with a path", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "https://example.com/harbor", "data", "EXT_ENDPOINT")
	}, want: []string{"HA010 ConfigMap/myharbor-core error"}, msg: "with path /harbor"},
	{rule: "HA010", name: "externalURL without a scheme", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "harbor.example.com", "data", "EXT_ENDPOINT")
	}, want: []string{"HA010 ConfigMap/myharbor-core error"}},
	{rule: "HA010", name: "externalURL with a trailing slash and a port", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "http://10.0.0.1:30002/", "data", "EXT_ENDPOINT")
	}},

	// HA011
	{rule: "HA011", name: "several nodes without Sentinel", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis://r1:6379,r2:6379,r3:6379/0", "data", "_REDIS_URL_CORE")
	}, want: []string{"HA011 ConfigMap/myharbor-core error"}, msg: "lists 3 Redis nodes"},
	{rule: "HA011", name: "a Bitnami redis-cluster Service", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis://myredis-redis-cluster.redis:6379/0", "data", "_REDIS_URL_CORE")
	}, want: []string{"HA011 ConfigMap/myharbor-core error"}},
	{rule: "HA011", name: "a sharded KubeBlocks cluster in the stream", change: func(f *fixture) {
		f.add(kbCluster("shardings: [{name: shard, shards: 3}]"))
		f.set(cm, "myharbor-core", "redis://myredis-shard-x7k-redis.harbor.svc:6379/0", "data", "_REDIS_URL_CORE")
	}, want: []string{"HA011 ConfigMap/myharbor-core error"}, msg: "KubeBlocks Cluster harbor/myredis"},
	{rule: "HA011", name: "a replicated KubeBlocks cluster", change: func(f *fixture) {
		f.add(kbCluster("topology: replication"))
		f.set(cm, "myharbor-core", "redis://myredis-redis-redis.harbor.svc:6379/0", "data", "_REDIS_URL_CORE")
	}},
	{rule: "HA011", name: "Sentinels", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0", "data", "_REDIS_URL_CORE")
	}},

	{rule: "HA011", name: "several nodes without Sentinel, in a post-rendered env value", change: func(f *fixture) {
		setCoreEnv(f, `[{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: _REDIS_URL_CORE, value: "redis://:$(P)@r1:6379,r2:6379/0"}]`)
	}, want: []string{"HA011 Deployment/myharbor-core error"}, msg: "lists 2 Redis nodes"},

	// HA012
	{rule: "HA012", name: "a $(VAR) reference in a post-rendered env value is no ConfigMap", change: func(f *fixture) {
		f.del(cm, "myharbor-core", "data", "_REDIS_URL_CORE")
		setCoreEnv(f, `[{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: _REDIS_URL_CORE, value: "redis://:$(P)@redis.harbor:6379/0"}]`)
	}},
	{rule: "HA012", name: "password in a Redis URL", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis://:s3cr3t-Pa55@redis.harbor:6379/0", "data", "_REDIS_URL_CORE")
	}, want: []string{"HA012 ConfigMap/myharbor-core warning"}, msg: "redis://:<redacted>@redis.harbor:6379/0"},
	{rule: "HA012", name: "password in the registry's config.yml", change: func(f *fixture) {
		f.setString(cm, "myharbor-registry", "redis:\n  addr: redis.harbor:6379\n  password: \"s3cr3t-Pa55\"\n", "data", "config.yml")
	}, want: []string{"HA012 ConfigMap/myharbor-registry warning"}, msg: "config.yml redis.password"},
	{rule: "HA012", name: "an empty password (existingSecret under helm template)", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis://:@redis.harbor:6379/0", "data", "_REDIS_URL_CORE")
	}},
	{rule: "HA012", name: "a ConfigMap no chart workload reads", change: func(f *fixture) {
		f.add("{apiVersion: v1, kind: ConfigMap, metadata: {name: notes, namespace: harbor}, data: {url: 'redis://:s3cr3t-Pa55@x:6379'}}")
	}},

	// HA014
	{rule: "HA014", name: "a Redis URL with the password in env", change: func(f *fixture) {
		setCoreEnv(f, `[{name: _REDIS_URL_CORE, value: "redis://harbor:s3cr3t-Pa55@redis.harbor:6379/0"}]`)
	}, want: []string{"HA014 Deployment/myharbor-core error"}, msg: "the Redis password (redis://harbor:<redacted>@redis.harbor:6379/0) in plain text in env _REDIS_URL_CORE"},
	{rule: "HA014", name: "a password variable with a literal value", change: func(f *fixture) {
		setCoreEnv(f, `[{name: POSTGRESQL_PASSWORD, value: s3cr3t-Pa55}]`)
	}, want: []string{"HA014 Deployment/myharbor-core error"}, msg: "a credential in plain text in env POSTGRESQL_PASSWORD"},
	{rule: "HA014", name: "a database URL with its password", change: func(f *fixture) {
		setCoreEnv(f, `[{name: DB_DSN, value: "postgres://harbor:s3cr3t-Pa55@pg:5432/registry"}]`)
	}, want: []string{"HA014 Deployment/myharbor-core error"}, msg: "a database password in a URL"},
	{rule: "HA014", name: "references, file paths and empty values", change: func(f *fixture) {
		setCoreEnv(f, `[{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: _REDIS_URL_CORE, value: "redis://harbor:$(P)@redis.harbor:6379/0"},
			{name: TOKEN_PRIVATE_KEY_PATH, value: /etc/core/private_key.pem}, {name: REGISTRY_PASSWORD_ALIAS, value: "$(P)"}, {name: HTTP_TOKEN, value: ""}]`)
	}},
	{rule: "HA014", name: "the message never shows the value", change: func(f *fixture) {
		setCoreEnv(f, `[{name: SOME_SECRET, value: s3cr3t-Pa55}]`)
	}, want: []string{"HA014 Deployment/myharbor-core error"}, msg: "container core has a credential in plain text in env SOME_SECRET"},

	// HA013
	{rule: "HA013", name: "Sentinel with TLS: the chart drops sentinelMasterSet", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "rediss+sentinel://s1:26379,s2:26379/mymaster/0", "data", "_REDIS_URL_CORE")
		f.setString(cm, "myharbor-registry", "redis:\n  addr: s1:26379,s2:26379\n  enableTLS: true\n", "data", "config.yml")
	}, want: []string{"HA013 ConfigMap/myharbor-registry error"}, msg: "no config.yml redis.sentinelMasterSet"},
	{rule: "HA013", name: "Sentinel without TLS keeps the master set", change: func(f *fixture) {
		f.set(cm, "myharbor-core", "redis+sentinel://s1:26379,s2:26379/mymaster/0", "data", "_REDIS_URL_CORE")
		f.setString(cm, "myharbor-registry", "redis:\n  addr: s1:26379,s2:26379\n  sentinelMasterSet: mymaster\n", "data", "config.yml")
	}},

	// HA017
	{rule: "HA017", name: "a PKCS#8 key (what OpenSSL 3 writes)", change: func(f *fixture) { addTokenKey(f, "myharbor-core", testKey(f.t, "pkcs8")) },
		want: []string{"HA017 Secret/myharbor-core error"}, msg: `tls.key, core's token service key, is a "PRIVATE KEY" PEM block`},
	{rule: "HA017", name: "no PEM block at all", change: func(f *fixture) { addTokenKey(f, "myharbor-core", "not a key") },
		want: []string{"HA017 Secret/myharbor-core error"}, msg: "holds no PEM block"},
	{rule: "HA017", name: "a PKCS#1 RSA key", change: func(f *fixture) { addTokenKey(f, "myharbor-core", testKey(f.t, "pkcs1")) }},
	{rule: "HA017", name: "an EC key", change: func(f *fixture) { addTokenKey(f, "myharbor-core", testKey(f.t, "ec")) }},
	{rule: "HA017", name: "core.secretName: a Secret outside the stream", change: func(f *fixture) {
		addTokenKey(f, "myharbor-core", testKey(f.t, "pkcs8"))
		f.set(dpl, "myharbor-core", `[{name: token-service-private-key, secret: {secretName: my-token-key}}]`, "spec", "template", "spec", "volumes")
	}},

	// HA018
	{rule: "HA018", name: "an ACL user, and a registry config without redis.username (chart 1.18)", change: redisUser("harbor", ""),
		want: []string{"HA018 ConfigMap/myharbor-registry warning"}, msg: `ConfigMap myharbor-registry key config.yml has no redis.username while the release's other components log in to Redis as user "harbor"`},
	{rule: "HA018", name: "chart 1.19 tells the registry the user", change: redisUser("harbor", "  username: harbor\n")},
	{rule: "HA018", name: "the default account needs no user name", change: redisUser("default", "")},

	// HA019
	{rule: "HA019", name: "the chart's 900 per pod against max_connections 100", change: func(f *fixture) {
		f.setString(cm, "myharbor-core", "900", "data", "POSTGRESQL_MAX_OPEN_CONNS")
	}, want: []string{"HA019 Deployment/myharbor-core error"}, msg: `Harbor can open up to 2700 PostgreSQL connections, max_connections is 100 (assumed`},
	{rule: "HA019", name: "unset is Harbor's unlimited", change: func(f *fixture) {
		f.del(cm, "myharbor-core", "data", "POSTGRESQL_MAX_OPEN_CONNS")
	}, want: []string{"HA019 Deployment/myharbor-core error"}, msg: "an unlimited number of"},
	{rule: "HA019", name: "an env value wins over the ConfigMap", change: func(f *fixture) {
		f.setString(cm, "myharbor-core", "900", "data", "POSTGRESQL_MAX_OPEN_CONNS")
		spec := f.obj(dpl, "myharbor-core").Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		spec["containers"].([]any)[0].(map[string]any)["env"] = []any{map[string]any{"name": "POSTGRESQL_MAX_OPEN_CONNS", "value": "30"}}
	}},
	{rule: "HA019", name: "3 pods of 20 (2 replicas and a surge) fit 100 less the reserve", change: func(*fixture) {}},

	// HA020
	{rule: "HA020", name: "unset is Harbor's 5m", change: func(f *fixture) {
		f.del(cm, "myharbor-core", "data", "POSTGRESQL_CONN_MAX_LIFETIME")
	}, want: []string{"HA020 Deployment/myharbor-core warning"}, msg: "for 5m (POSTGRESQL_CONN_MAX_LIFETIME unset: Harbor's default)"},
	{rule: "HA020", name: "an hour in the ConfigMap", change: func(f *fixture) {
		f.setString(cm, "myharbor-core", "1h", "data", "POSTGRESQL_CONN_MAX_LIFETIME")
	}, want: []string{"HA020 Deployment/myharbor-core warning"}, msg: "for 1h (ConfigMap myharbor-core key POSTGRESQL_CONN_MAX_LIFETIME)"},
	{rule: "HA020", name: "2s, the post-renderer's", change: func(*fixture) {}},
}

// redisUser gives core's Redis URL the user, and the registry's
// config.yml a redis mapping with the extra line (a username: or none).
func redisUser(user, extra string) func(f *fixture) {
	return func(f *fixture) {
		f.set(cm, "myharbor-core", "redis://"+user+":pw@redis.harbor:6379/0", "data", "_REDIS_URL_CORE")
		f.setString(cm, "myharbor-registry", "redis:\n  addr: redis.harbor:6379\n"+extra+"  password: pw\n  db: 2\n", "data", "config.yml")
	}
}

// addTokenKey mounts Secret name's tls.key holding pemText at core's
// token key path, as the chart does.
func addTokenKey(f *fixture, name, pemText string) {
	f.t.Helper()
	f.set(dpl, "myharbor-core", `[{name: token-service-private-key, secret: {secretName: `+name+`}}]`, "spec", "template", "spec", "volumes")
	spec := f.obj(dpl, "myharbor-core").Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["containers"].([]any)[0].(map[string]any)["volumeMounts"] = []any{
		map[string]any{"name": "token-service-private-key", "mountPath": "/etc/core/private_key.pem", "subPath": "tls.key"}}
	f.add(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: harbor}\ndata: {tls.key: %s}\n", name,
		base64.StdEncoding.EncodeToString([]byte(pemText))))
}

// testKey is a new private key in PEM: "pkcs1" (RSA PRIVATE KEY), "ec"
// (EC PRIVATE KEY) or "pkcs8" (PRIVATE KEY).
func testKey(t *testing.T, form string) string {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	switch form {
	case "pkcs1":
		rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}
	case "ec":
		der, err := x509.MarshalECPrivateKey(ec)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		der, err := x509.MarshalPKCS8PrivateKey(ec)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return string(pem.EncodeToMemory(block))
}

func addDatabase(f *fixture) {
	f.add(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: myharbor-database, namespace: harbor}
spec:
  replicas: 1
  serviceName: myharbor-database
  selector: {matchLabels: {release: myharbor, app: harbor, component: database}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: database}}
    spec: {containers: [{name: database, image: goharbor/harbor-db:v2.15.1}]}
`)
}

func kbCluster(spec string) string {
	return "apiVersion: apps.kubeblocks.io/v1\nkind: Cluster\nmetadata: {name: myredis, namespace: harbor}\nspec: {" + spec + "}\n"
}

func TestBaselineHasNoFindings(t *testing.T) {
	r := lintBytes(t, "ha-release.yaml", baseline(t).stream())
	if got := summary(r, ""); len(got) != 0 {
		t.Fatalf("the baseline release must pass every rule, got %q", got)
	}
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			f := baseline(t)
			c.change(f)
			r := lintBytes(t, "case.yaml", f.stream())
			got := summary(r, c.rule)
			want := c.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s findings:\n got %q\nwant %q\nall: %q", c.rule, got, want, summary(r, ""))
			}
			if c.msg != "" {
				var msgs []string
				for _, x := range r.Findings {
					if x.Rule == c.rule {
						msgs = append(msgs, x.Message)
					}
				}
				if !strings.Contains(strings.Join(msgs, "\n"), c.msg) {
					t.Errorf("message %q does not contain %q", msgs, c.msg)
				}
			}
			for _, x := range r.Findings {
				if x.Fix == "" || strings.Contains(x.Fix, "<") {
					t.Errorf("%s: fix sentence %q is empty or has a placeholder left", x.Rule, x.Fix)
				}
				if strings.Contains(x.Message, "s3cr3t-Pa55") {
					t.Errorf("%s message shows the password: %s", x.Rule, x.Message)
				}
			}
		})
	}
}

// Every rule that reads manifests has a case that fires and one that does
// not, so no rule goes untested when one is added.
func TestEveryRuleHasPositiveAndNegativeCases(t *testing.T) {
	for _, r := range Rules {
		if r.ValidateOnly {
			continue
		}
		var pos, neg bool
		for _, c := range ruleCases {
			if c.rule == r.ID {
				pos = pos || len(c.want) > 0
				neg = neg || len(c.want) == 0
			}
		}
		if !pos || !neg {
			t.Errorf("rule %s: positive case %v, negative case %v; add the missing one to ruleCases", r.ID, pos, neg)
		}
	}
}

func TestRuleTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for i, r := range Rules {
		if seen[r.ID] {
			t.Errorf("rule id %s twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && Rules[i-1].ID >= r.ID {
			t.Errorf("rules out of id order at %s", r.ID)
		}
		if r.Title == "" || !strings.HasSuffix(r.Fix, ".") || (r.check == nil) != r.ValidateOnly {
			t.Errorf("rule %s: needs a title, a fix sentence ending in '.', and a check unless validate-only", r.ID)
		}
	}
}

// autoscaled puts Deployment name under a CPU autoscaler between lo and
// hi, as --autoscale does: replicas left out, every container requesting
// CPU.
func autoscaled(f *fixture, name string, lo, hi int) {
	f.t.Helper()
	f.del(dpl, name, "spec", "replicas")
	setCoreResources(f, "{requests: {cpu: 100m}}")
	f.add(fmt.Sprintf("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: %s, namespace: harbor}\n"+
		"spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}, minReplicas: %d, maxReplicas: %d, "+
		"metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]}\n", name, name, lo, hi))
}

// setCoreResources sets the resources of core's first container, in YAML.
func setCoreResources(f *fixture, res string) { setCoreContainer(f, "resources", res) }

// setCoreEnv sets the env of core's first container, written in YAML.
func setCoreEnv(f *fixture, env string) { setCoreContainer(f, "env", env) }

// setCoreContainer sets a field of core's first container, in YAML.
func setCoreContainer(f *fixture, field, value string) {
	f.t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		f.t.Fatal(err)
	}
	spec := f.obj(dpl, "myharbor-core").Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["containers"].([]any)[0].(map[string]any)[field] = v
}

// Lint (HA014) and the post-renderer's warning read one reference test: a
// Redis password in an env value is plain text to both or to neither. The
// kubelet expands "$(P)x$(Q)" to P's value, "x" and Q's: part of the
// password is in the spec. "$$(P)" is the text "$(P)"; "$()" names nothing.
func TestReferenceAgreesWithPostRender(t *testing.T) {
	for _, tt := range []struct {
		password string
		plain    bool
	}{
		{"$(P)", false},
		{"s3cr3t-Pa55", true},
		{"$(P)x$(Q)", true},
		{"$$(P)", true},
		{"$()", true},
	} {
		f := baseline(t)
		setCoreEnv(f, `[{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: _REDIS_URL_CORE, value: "redis://:`+tt.password+`@redis.harbor:6379/0"}]`)
		stream := f.stream()
		lintSays := slices.Contains(summary(lintBytes(t, "case.yaml", stream), "HA014"), "HA014 Deployment/myharbor-core error")
		var warnings bytes.Buffer
		r, err := postrender.New(postrender.DefaultKnobs(), &warnings)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(bytes.NewBuffer(stream)); err != nil {
			t.Fatal(err)
		}
		postRenderSays := strings.Contains(warnings.String(), "the env of myharbor-core container core (_REDIS_URL_CORE)")
		if lintSays != tt.plain || postRenderSays != tt.plain {
			t.Errorf("password %q: lint reports it %v, post-render warns %v; want both %v", tt.password, lintSays, postRenderSays, tt.plain)
		}
	}
}
