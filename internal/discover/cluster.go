package discover

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Labels KubeBlocks puts on its Services, Secrets and pods, and their
// values, for the commands that read KubeBlocks' objects themselves
// (doctor) (../shared/kubeblocks/REFERENCE.md §3.1, §6).
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	LabelInstance       = "app.kubernetes.io/instance"
	LabelComponent      = "apps.kubeblocks.io/component-name"
	LabelRole           = "kubeblocks.io/role"
	ManagedByKubeBlocks = "kubeblocks" // LabelManagedBy
	RolePrimary         = "primary"    // LabelRole
)

// Other label and annotation keys KubeBlocks puts on its objects
// (../shared/kubeblocks/REFERENCE.md §2.2, §3.1, §4, §6).
const (
	labelClusterDef     = "clusterdefinition.kubeblocks.io/name"
	labelAccount08      = "account.kubeblocks.io/name"         // 0.8, 0.9
	labelAccount10      = "apps.kubeblocks.io/system-account"  // 1.0
	labelInstanceSet    = "workloads.kubeblocks.io/managed-by" // 0.9, 1.0 pods
	labelWorkloadType07 = "apps.kubeblocks.io/workload-type"   // 0.7 pods
	labelReleasePhase   = "apps.kubeblocks.io/release-phase"   // 1.0.1+ pods
	annotationCRDAPI    = "kubeblocks.io/crd-api-version"      // 1.0, 1.1 (1.2 no longer sets it)
	envSentinelMaster   = "CUSTOM_SENTINEL_MASTER_NAME"
	apiV1               = "apps.kubeblocks.io/v1"
)

// InstanceSelector is the label selector of the objects KubeBlocks
// manages for the named clusters of one namespace, in the order given:
// "app.kubernetes.io/managed-by=kubeblocks,app.kubernetes.io/instance in (a,b)".
func InstanceSelector(clusters []string) string {
	return fmt.Sprintf("%s=%s,%s in (%s)", LabelManagedBy, ManagedByKubeBlocks, LabelInstance, strings.Join(clusters, ","))
}

// kbCluster is the part of a Cluster object discovery needs, read from
// either API version and either spec shape: the 1.0 CRD has no conversion
// webhook, so an object reads back with the fields it was written with.
type kbCluster struct {
	name, namespace string
	apiVersion      string // the version it was read through
	clusterDef      string // label, else spec.clusterDef / spec.clusterDefinitionRef
	topology        string
	crdAPIVersion   string // annotation kubeblocks.io/crd-api-version
	sharded         bool   // spec.shardings / spec.shardingSpecs
	v1Spec          bool   // spec.clusterDef or spec.shardings: fields only apps.kubeblocks.io/v1 has
	phase           string
	components      []kbComponent
}

type kbComponent struct {
	name     string
	def      string // componentDef, else componentDefRef
	legacy   bool   // def came from componentDefRef (the ClusterDefinition API)
	replicas int
	env      map[string]string
}

func parseCluster(u *unstructured.Unstructured, apiVersion string) kbCluster {
	c := kbCluster{
		name:          u.GetName(),
		namespace:     u.GetNamespace(),
		apiVersion:    apiVersion,
		clusterDef:    u.GetLabels()[labelClusterDef],
		crdAPIVersion: u.GetAnnotations()[annotationCRDAPI],
	}
	v1Def := firstString(u, "spec", "clusterDef")
	shardings, _, _ := unstructured.NestedSlice(u.Object, "spec", "shardings")
	c.v1Spec = v1Def != "" || len(shardings) > 0
	if c.clusterDef == "" {
		c.clusterDef = v1Def
	}
	if c.clusterDef == "" {
		c.clusterDef = firstString(u, "spec", "clusterDefinitionRef")
	}
	c.topology = firstString(u, "spec", "topology")
	c.phase = firstString(u, "status", "phase")
	for _, key := range []string{"shardings", "shardingSpecs"} {
		if l, _, _ := unstructured.NestedSlice(u.Object, "spec", key); len(l) > 0 {
			c.sharded = true
		}
	}
	specs, _, _ := unstructured.NestedSlice(u.Object, "spec", "componentSpecs")
	for _, s := range specs {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		comp := kbComponent{replicas: 1, env: map[string]string{}}
		comp.name, _ = m["name"].(string)
		if d, _ := m["componentDef"].(string); d != "" {
			comp.def = d
		} else {
			comp.def, _ = m["componentDefRef"].(string)
			comp.legacy = comp.def != ""
		}
		switch r := m["replicas"].(type) {
		case int64:
			comp.replicas = int(r)
		case float64:
			comp.replicas = int(r)
		}
		if env, ok := m["env"].([]any); ok {
			for _, e := range env {
				em, _ := e.(map[string]any)
				n, _ := em["name"].(string)
				v, _ := em["value"].(string)
				if n != "" {
					comp.env[n] = v
				}
			}
		}
		c.components = append(c.components, comp)
	}
	return c
}

func firstString(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}

// engine classifies the cluster: the ClusterDefinition first, then the
// component definitions' names (1.0 and hand-written CRs may lack both the
// label and clusterDef). Valkey is Redis to Harbor: it speaks the Redis
// protocol and ACLs.
func (c kbCluster) engine() Engine {
	switch c.clusterDef {
	case "postgresql":
		return PostgreSQL
	case "redis", serverValkey.name:
		return Redis
	case "":
	default:
		return Engine(c.clusterDef)
	}
	for _, comp := range c.components {
		switch {
		case strings.HasPrefix(comp.def, "postgresql"):
			return PostgreSQL
		case strings.HasPrefix(comp.def, "redis"), strings.HasPrefix(comp.def, serverValkey.name):
			return Redis
		}
	}
	if c.sharded {
		return Redis // shardings without a definition name: only Redis Cluster uses them here
	}
	return "unknown"
}

// legacy: no component uses a real ComponentDefinition, the condition
// under which KubeBlocks creates <c>-conn-credential (isLegacyCluster).
func (c kbCluster) legacy() bool {
	for _, comp := range c.components {
		if !comp.legacy {
			return false
		}
	}
	return len(c.components) > 0
}

// redisServer is a Redis-protocol server KubeBlocks runs: its definition
// and component names, and the names of its ports (REFERENCE.md §2.3,
// §3.1; kubeblocks-addons addons/valkey, KubeBlocks 1.2: ClusterDefinition
// valkey, ComponentDefinitions valkey-<major> and valkey-sentinel-<major>,
// components valkey and valkey-sentinel, ports valkey 6379 and
// valkey-sentinel 26379).
type redisServer struct {
	name     string         // ClusterDefinition and data component: "redis", "valkey"
	dataDef  *regexp.Regexp // the data component's definition
	others   []string       // definition prefixes the data pattern also matches
	sentinel string         // the Sentinel component and definition prefix
}

var (
	serverRedis = redisServer{name: "redis", dataDef: regexp.MustCompile(`^redis(-\d+)?(-.*)?$`),
		others: []string{"redis-sentinel", "redis-twemproxy", "redis-cluster"}, sentinel: "redis-sentinel"}
	serverValkey = redisServer{name: "valkey", dataDef: regexp.MustCompile(`^valkey(-\d+)?(-.*)?$`),
		others: []string{"valkey-sentinel"}, sentinel: "valkey-sentinel"}
)

// isData reports whether a component definition is the server's data one.
func (s redisServer) isData(def string) bool {
	if !s.dataDef.MatchString(def) {
		return false
	}
	for _, p := range s.others {
		if strings.HasPrefix(def, p) {
			return false
		}
	}
	return true
}

// redisServer is the Redis-protocol server of a Redis cluster: Valkey when
// its ClusterDefinition, a component definition or a component's name says
// so, else Redis.
func (c kbCluster) redisServer() redisServer {
	if c.clusterDef == serverValkey.name {
		return serverValkey
	}
	for _, comp := range c.components {
		if strings.HasPrefix(comp.def, serverValkey.name) || (comp.def == "" && strings.HasPrefix(comp.name, serverValkey.name)) {
			return serverValkey
		}
	}
	return serverRedis
}

// server names what the cluster runs, for people: "valkey" for Valkey, the
// engine otherwise.
func (c kbCluster) server() string {
	if e := c.engine(); e != Redis {
		return string(e)
	}
	return c.redisServer().name
}

// dataComponent is the component Harbor connects to.
func (c kbCluster) dataComponent(e Engine) (kbComponent, bool) {
	conventional := string(e)
	match := func(comp kbComponent) bool {
		switch e {
		case PostgreSQL:
			return strings.HasPrefix(comp.def, "postgresql")
		case Redis:
			return c.redisServer().isData(comp.def)
		}
		return false
	}
	if e == Redis {
		conventional = c.redisServer().name
	}
	for _, comp := range c.components {
		if match(comp) {
			return comp, true
		}
	}
	// Hand-written CRs may use other definition names: fall back to the
	// conventional component name, then to a lone component.
	for _, comp := range c.components {
		if comp.name == conventional {
			return comp, true
		}
	}
	if len(c.components) == 1 {
		return c.components[0], true
	}
	return kbComponent{}, false
}

// sentinelComponent is the Sentinel component of a Redis or Valkey
// cluster, if any.
func (c kbCluster) sentinelComponent() (kbComponent, bool) {
	s := c.redisServer().sentinel
	for _, comp := range c.components {
		if strings.HasPrefix(comp.def, s) || comp.name == s {
			return comp, true
		}
	}
	return kbComponent{}, false
}

// redisCluster reports a sharded Redis Cluster, which Harbor cannot use.
func (c kbCluster) redisCluster() bool {
	if c.sharded || c.topology == "cluster" {
		return true
	}
	for _, comp := range c.components {
		if strings.HasPrefix(comp.def, "redis-cluster") {
			return true
		}
	}
	return false
}

// unusable says why Harbor cannot use the cluster, "" when it can: a
// sharded Redis Cluster, or a phase other than Running.
func (c kbCluster) unusable() string {
	if c.engine() == Redis && c.redisCluster() {
		return "sharded Redis Cluster (KubeBlocks shardings or topology \"cluster\"): Harbor cannot use Redis Cluster"
	}
	return phaseProblem(c.phase)
}

// phaseProblem is the health problem of a cluster phase, "" for Running.
func phaseProblem(phase string) string {
	switch phase {
	case "Running":
		return ""
	case "":
		phase = "unknown (no status)"
	}
	return fmt.Sprintf("phase is %s, not Running", phase)
}

// shape names the KubeBlocks version and API path that produced the
// cluster, from the Cluster itself and the labels on its pods
// (REFERENCE.md §1, §6). "1.0" is every release since, whose objects are
// 1.0's: KubeBlocks 1.2 no longer writes the crd-api-version annotation
// (apecloud/kubeblocks #10469), so a Cluster without clusterDef is known by
// its pods' release-phase label (1.0.1 and later).
func (c kbCluster) shape(pods []podLabels) string {
	instanceSet, workloadType, releasePhase := false, false, false
	for _, l := range pods {
		if l[labelInstanceSet] != "" {
			instanceSet = true
		}
		if l[labelWorkloadType07] != "" {
			workloadType = true
		}
		if l[labelReleasePhase] != "" {
			releasePhase = true
		}
	}
	if c.crdAPIVersion == apiV1 || c.v1Spec || releasePhase {
		return "1.0"
	}
	if c.legacy() {
		switch {
		case instanceSet:
			return "0.9 legacy"
		case workloadType:
			return "0.7 legacy"
		case len(pods) > 0:
			return "0.8 legacy"
		}
		return "0.7-0.9 legacy"
	}
	switch {
	case c.topology != "":
		return "0.9 topology"
	case instanceSet:
		return "0.9 componentDef"
	case len(pods) > 0:
		return "0.8 componentDef"
	}
	return "0.8-0.9 componentDef"
}
