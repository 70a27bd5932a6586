package postrender

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
	"github.com/harborha/helm-harborha/internal/harbor"
)

// Knobs are the post-renderer's settings. Every field is also a key of the
// --config file (the json tags), so helmfile postRendererArgs stay short.
type Knobs struct {
	Replicas        Replicas          `json:"replicas,omitempty"`
	Autoscale       Autoscale         `json:"autoscale,omitempty"`
	AntiAffinity    string            `json:"antiAffinity,omitempty"`
	TopologyKey     string            `json:"topologyKey,omitempty"`
	ZoneSpread      bool              `json:"zoneSpread,omitempty"`
	SharedPVC       string            `json:"sharedPVC,omitempty"`
	SubPaths        map[string]string `json:"subPaths,omitempty"`
	CreateSharedPVC bool              `json:"createSharedPVC,omitempty"`
	StorageClass    string            `json:"storageClass,omitempty"`
	Size            string            `json:"size,omitempty"`
	Kustomize       string            `json:"kustomize,omitempty"`
	// RedisPasswordSecret is NAME[:KEY], the Secret in Harbor's namespace
	// whose key (default DefaultRedisPasswordKey) holds the Redis password:
	// every credential the chart writes is turned into a reference to it
	// (credentials.go). Empty: an inline password is left, with a warning.
	RedisPasswordSecret string `json:"redisPasswordSecret,omitempty"`
	// RedisUsername is the Redis ACL user put into the rebuilt URLs (the
	// chart drops a username that comes without a password); empty: the
	// chart's own, if it wrote one.
	RedisUsername string `json:"redisUsername,omitempty"`
	// PreStopSleep is the pause, in seconds, before a serving container is
	// stopped (drain.go); 0 leaves the pods as the chart made them
	// (clusters before Kubernetes 1.30 have no sleep action).
	PreStopSleep int32 `json:"preStopSleep"`
	// DatabaseMaxConnections is the PostgreSQL cluster's max_connections,
	// which the pools are sized to fit (pool.go); 0: DefaultMaxConnections.
	DatabaseMaxConnections int `json:"databaseMaxConnections,omitempty"`
	// DatabaseProxyImage is the harborha-dbproxy image put beside every
	// process that opens a database pool as a native sidecar (proxy.go);
	// empty: none.
	DatabaseProxyImage string `json:"databaseProxyImage,omitempty"`
	// DatabasePods is host:port naming every PostgreSQL pod (the
	// cluster's headless Service), where the proxy looks for a new
	// primary itself while the primary Service's route lags behind a
	// switchover; empty: the Service alone. Install and upgrade learn it.
	DatabasePods string `json:"databasePods,omitempty"`
}

// WithRedisSecret are the knobs with the Redis password read from key of
// Secret secret, and username for the rebuilt URLs (kept when ""): what a
// run learns from the cluster, set as data.
func (o Knobs) WithRedisSecret(secret, key, username string) (Knobs, error) {
	o.RedisPasswordSecret = secret + ":" + key
	if username != "" {
		o.RedisUsername = username
	}
	return o, o.validateRedis()
}

// validateRedis checks the Redis password's Secret and the username.
func (o Knobs) validateRedis() error {
	if _, err := o.redisSecret(); err != nil {
		return err
	}
	if u := o.RedisUsername; u != "" {
		return harbor.CheckRedisCredential("--redis-username "+strconv.Quote(u), u)
	}
	return nil
}

// DefaultRedisPasswordKey is the key --redis-password-secret reads when
// it names none: the one the chart's redis.external.existingSecret uses.
const DefaultRedisPasswordKey = "REDIS_PASSWORD"

// Anti-affinity modes.
const (
	AntiAffinitySoft = "soft"
	AntiAffinityHard = "hard"
	AntiAffinityNone = "none"
)

// ZoneTopologyKey is the well-known zone label --zone-spread spreads over.
const ZoneTopologyKey = "topology.kubernetes.io/zone"

// Limits of the knobs: Harbor needs at least one pod of each component, and
// a replica count in the hundreds is a typo, not a topology.
const (
	minReplicas = 1
	maxReplicas = 100
)

// DefaultKnobs are the defaults of the flags.
func DefaultKnobs() Knobs {
	return Knobs{
		Replicas:     Replicas{Min: 2},
		AntiAffinity: AntiAffinitySoft,
		TopologyKey:  "kubernetes.io/hostname",
		SubPaths:     map[string]string{"registry": "registry", "jobservice": "jobservice"},
		Size:         "10Gi",
		PreStopSleep: DefaultPreStopSleep,
	}
}

// Replicas is --replicas: a minimum for every component ("2") and exact
// counts per component ("core=3,trivy=1"), in one value or several.
type Replicas struct {
	Min   int32
	Exact map[string]int32
}

// For returns the replica count a component gets when the chart rendered
// current: the exact count if one was asked for, else at least Min.
func (r Replicas) For(component string, current int32) int32 {
	if n, ok := r.Exact[component]; ok {
		return n
	}
	return max(current, r.Min)
}

// replicasValue is the pflag.Value of --replicas; it adds to the Replicas
// it points at, so flags given after a config file override per key.
type replicasValue struct{ r *Replicas }

func (v replicasValue) Type() string { return "N|component=N,..." }

func (v replicasValue) String() string {
	if v.r == nil {
		return ""
	}
	parts := []string{}
	if v.r.Min != 0 {
		parts = append(parts, strconv.Itoa(int(v.r.Min)))
	}
	for _, c := range harbor.SortedKeys(v.r.Exact) {
		parts = append(parts, fmt.Sprintf("%s=%d", c, v.r.Exact[c]))
	}
	return strings.Join(parts, ",")
}

func (v replicasValue) Set(s string) error {
	return eachItem(s, func(item, comp, count string) error {
		n, err := strconv.ParseInt(count, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a number; use N or component=N (components: %s)", item, strings.Join(harbor.Components, ", "))
		}
		if comp == "" {
			v.r.Min = int32(n)
			return nil
		}
		if v.r.Exact == nil {
			v.r.Exact = map[string]int32{}
		}
		v.r.Exact[comp] = int32(n)
		return nil
	})
}

// eachItem calls fn on each item of a "VALUE,component=VALUE,..." flag
// value (--replicas, --autoscale), with the component ("" for a bare
// VALUE) and the value, trimmed.
func eachItem(s string, fn func(item, comp, value string) error) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		comp, value, named := strings.Cut(item, "=")
		if !named {
			comp, value = "", comp
		}
		if err := fn(item, strings.TrimSpace(comp), strings.TrimSpace(value)); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalJSON reads replicas from a config file: a number (the minimum)
// or a mapping with "min" and component counts.
func (r *Replicas) UnmarshalJSON(b []byte) error {
	var n int32
	if err := json.Unmarshal(b, &n); err == nil {
		r.Min = n
		return nil
	}
	var m map[string]int32
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("replicas must be a number or a mapping of component: number")
	}
	for k, v := range m {
		if k == "min" {
			r.Min = v
			continue
		}
		if r.Exact == nil {
			r.Exact = map[string]int32{}
		}
		r.Exact[k] = v
	}
	return nil
}

// MarshalJSON writes replicas the way UnmarshalJSON reads them.
func (r Replicas) MarshalJSON() ([]byte, error) {
	if len(r.Exact) == 0 {
		return json.Marshal(r.Min)
	}
	m := map[string]int32{"min": r.Min}
	for k, v := range r.Exact {
		m[k] = v
	}
	return json.Marshal(m)
}

// mapValue is a "key=value,..." flag that adds to a map.
type mapValue struct{ m *map[string]string }

func (v mapValue) Type() string { return "component=path,..." }

func (v mapValue) String() string {
	if v.m == nil {
		return ""
	}
	parts := []string{}
	for _, k := range harbor.SortedKeys(*v.m) {
		parts = append(parts, k+"="+(*v.m)[k])
	}
	return strings.Join(parts, ",")
}

func (v mapValue) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%q is not component=path", item)
		}
		if *v.m == nil {
			*v.m = map[string]string{}
		}
		(*v.m)[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return nil
}

func pathErrReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Validate checks every knob and names the flag of the first bad one.
func (o Knobs) Validate() error {
	for _, check := range []func() error{o.validateReplicas, o.validateAutoscale, o.validatePlacement, o.validateClaim, o.validateRedis, o.validateLevers, o.validateProxy} {
		if err := check(); err != nil {
			return err
		}
	}
	if o.Kustomize != "" {
		st, err := os.Stat(o.Kustomize)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("--kustomize: %s is not a directory holding a kustomization.yaml", o.Kustomize)
		}
	}
	return nil
}

// validateReplicas checks --replicas: known components, counts in range.
func (o Knobs) validateReplicas() error {
	check := func(comp string, n int32) error {
		if n < minReplicas || n > maxReplicas {
			return fmt.Errorf("--replicas: %s%d is out of range; use %d to %d", comp, n, minReplicas, maxReplicas)
		}
		return nil
	}
	if err := check("", o.Replicas.Min); err != nil {
		return err
	}
	for _, c := range harbor.SortedKeys(o.Replicas.Exact) {
		if !harbor.IsComponent(c) {
			return fmt.Errorf("--replicas: unknown component %q; components are %s", c, strings.Join(harbor.Components, ", "))
		}
		if err := check(c+"=", o.Replicas.Exact[c]); err != nil {
			return err
		}
	}
	return nil
}

// validatePlacement checks --anti-affinity and --topology-key.
func (o Knobs) validatePlacement() error {
	switch o.AntiAffinity {
	case AntiAffinitySoft, AntiAffinityHard, AntiAffinityNone:
	default:
		return fmt.Errorf("--anti-affinity: %q is not soft, hard or none", o.AntiAffinity)
	}
	if errs := validation.IsQualifiedName(o.TopologyKey); len(errs) > 0 {
		return fmt.Errorf("--topology-key: %q is not a label key: %s", o.TopologyKey, errs[0])
	}
	return nil
}

// validateClaim checks the shared claim's knobs.
func (o Knobs) validateClaim() error {
	if o.SharedPVC != "" {
		if errs := validation.IsDNS1123Subdomain(o.SharedPVC); len(errs) > 0 {
			return fmt.Errorf("--shared-pvc: %q is not a valid claim name: %s", o.SharedPVC, errs[0])
		}
	}
	for _, c := range harbor.SortedKeys(o.SubPaths) {
		if _, ok := sharedVolumes[c]; !ok {
			return fmt.Errorf("--subpath: %q has no shared volume; use registry=PATH or jobservice=PATH", c)
		}
		p := o.SubPaths[c]
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("--subpath: %s=%q must be a relative path inside the claim, without .. or a trailing /", c, p)
		}
	}
	switch {
	case o.CreateSharedPVC && o.SharedPVC == "":
		return fmt.Errorf("--create-shared-pvc needs --shared-pvc NAME: the claim to create")
	case !o.CreateSharedPVC && o.StorageClass != "":
		return fmt.Errorf("--storage-class is only used with --create-shared-pvc; add it, or drop --storage-class")
	}
	if o.StorageClass != "" {
		if errs := validation.IsDNS1123Subdomain(o.StorageClass); len(errs) > 0 {
			return fmt.Errorf("--storage-class: %q is not a valid class name: %s", o.StorageClass, errs[0])
		}
	}
	if q, err := resource.ParseQuantity(o.Size); err != nil || q.Sign() <= 0 {
		return fmt.Errorf("--size: %q is not a positive quantity such as 100Gi", o.Size)
	}
	return nil
}

// sharedVolumes are the chart's volumes that --shared-pvc moves onto the
// shared claim: registry's image store (mounted by registry and registryctl)
// and jobservice's job logs. The names are the same in every chart version.
var sharedVolumes = map[string]string{
	"registry":   "registry-data",
	"jobservice": "job-logs",
}

// sharedComponents is sharedVolumes' keys in a fixed order.
func sharedComponents() []string { return harbor.SortedKeys(sharedVolumes) }

// Limits of the levers: a pause longer than a few minutes holds every
// rollout and drain that long, and no PostgreSQL takes a million clients.
const (
	maxPreStopSleep   = 300
	maxMaxConnections = 1 << 20
)

// validateLevers checks --prestop-sleep and --database-max-connections.
func (o Knobs) validateLevers() error {
	if o.PreStopSleep < 0 || o.PreStopSleep > maxPreStopSleep {
		return fmt.Errorf("--prestop-sleep: %d is out of range; use 0 (no pause) to %d seconds", o.PreStopSleep, maxPreStopSleep)
	}
	if o.DatabaseMaxConnections < 0 || o.DatabaseMaxConnections > maxMaxConnections {
		return fmt.Errorf("--database-max-connections: %d is out of range; give the cluster's max_connections (SHOW max_connections), or 0 for %d", o.DatabaseMaxConnections, DefaultMaxConnections)
	}
	return nil
}

// validateProxy checks --database-proxy-image: empty, or an image
// reference as container runtimes read one (go-containerregistry's
// parser, the probe's); and --database-pods: empty, or host:port as the
// proxy reads DBPROXY_PODS.
func (o Knobs) validateProxy() error {
	img := o.DatabaseProxyImage
	if _, err := name.ParseReference(img); img != "" && (err != nil || strings.TrimSpace(img) != img || strings.HasPrefix(img, "-")) {
		return fmt.Errorf("--database-proxy-image: %q is not an image reference such as registry.example.com/harborha-dbproxy:v1 (a lower-case name, then an optional :tag and @sha256:digest)", img)
	}
	if _, err := contract.HostPorts(o.DatabasePods); err != nil {
		return fmt.Errorf("--database-pods: %v; give the PostgreSQL cluster's headless Service, such as pg-postgresql-headless.db.svc:5432", err)
	}
	return nil
}
