package postrender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// Options are the post-renderer's knobs. Every field is also a key of the
// --config file (the json tags), so helmfile postRendererArgs stay short.
type Options struct {
	Replicas        Replicas          `json:"replicas,omitempty"`
	AntiAffinity    string            `json:"antiAffinity,omitempty"`
	TopologyKey     string            `json:"topologyKey,omitempty"`
	ZoneSpread      bool              `json:"zoneSpread,omitempty"`
	SharedPVC       string            `json:"sharedPVC,omitempty"`
	SubPaths        map[string]string `json:"subPaths,omitempty"`
	CreateSharedPVC bool              `json:"createSharedPVC,omitempty"`
	StorageClass    string            `json:"storageClass,omitempty"`
	Size            string            `json:"size,omitempty"`
	Kustomize       string            `json:"kustomize,omitempty"`
}

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

// DefaultOptions are the defaults of the flags.
func DefaultOptions() Options {
	return Options{
		Replicas:     Replicas{Min: 2},
		AntiAffinity: AntiAffinitySoft,
		TopologyKey:  "kubernetes.io/hostname",
		SubPaths:     map[string]string{"registry": "registry", "jobservice": "jobservice"},
		Size:         "10Gi",
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
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		comp, count, exact := strings.Cut(item, "=")
		if !exact {
			count = comp
		}
		n, err := strconv.ParseInt(strings.TrimSpace(count), 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a number; use N or component=N (components: %s)", item, strings.Join(harbor.Components, ", "))
		}
		if !exact {
			v.r.Min = int32(n)
			continue
		}
		if v.r.Exact == nil {
			v.r.Exact = map[string]int32{}
		}
		v.r.Exact[strings.TrimSpace(comp)] = int32(n)
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

// AddFlags defines the post-render knobs on fs, bound to o: values already
// in o (defaults, or a config file) stay unless a flag sets them.
func AddFlags(fs *pflag.FlagSet, o *Options) {
	fs.Var(replicasValue{&o.Replicas}, "replicas", "raise every component to at least N replicas, or set exact counts per component (core=3,trivy=1)")
	fs.StringVar(&o.AntiAffinity, "anti-affinity", o.AntiAffinity, "pod anti-affinity between a component's replicas: soft, hard or none")
	fs.StringVar(&o.TopologyKey, "topology-key", o.TopologyKey, "node label that anti-affinity spreads replicas over")
	fs.BoolVar(&o.ZoneSpread, "zone-spread", o.ZoneSpread, "also spread each component over zones (topologySpreadConstraint on "+ZoneTopologyKey+", ScheduleAnyway)")
	fs.StringVar(&o.SharedPVC, "shared-pvc", o.SharedPVC, "ReadWriteMany claim that registry and jobservice share, each on its own subPath; the chart's own claims for them are dropped")
	fs.Var(mapValue{&o.SubPaths}, "subpath", "subPath per component on the shared claim (registry=registry,jobservice=jobservice)")
	fs.BoolVar(&o.CreateSharedPVC, "create-shared-pvc", o.CreateSharedPVC, "also emit the --shared-pvc claim (ReadWriteMany, kept on uninstall)")
	fs.StringVar(&o.StorageClass, "storage-class", o.StorageClass, "storage class of the claim made by --create-shared-pvc (an RWX class such as NFS or CephFS)")
	fs.StringVar(&o.Size, "size", o.Size, "size of the claim made by --create-shared-pvc")
	fs.StringVar(&o.Kustomize, "kustomize", o.Kustomize, "directory with your own kustomization, applied after ours (our output is its first resource)")
}

// ParseArgs parses the post-render flags: --config FILE first, then the
// other flags on top of it. It returns the positional arguments.
func ParseArgs(name string, args []string, errOut io.Writer) (Options, []string, error) {
	newSet := func(o *Options, config *string) *pflag.FlagSet {
		fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
		fs.SetOutput(errOut)
		fs.SortFlags = false
		fs.StringVar(config, "config", "", "YAML file with any of the knobs below (flags override it)")
		AddFlags(fs, o)
		return fs
	}
	// First pass: only to find --config; values land in a scratch copy.
	var config string
	scratch := DefaultOptions()
	if err := newSet(&scratch, &config).Parse(args); err != nil {
		return Options{}, nil, err
	}
	o := DefaultOptions()
	if config != "" {
		var err error
		if o, err = LoadConfig(config); err != nil {
			return Options{}, nil, err
		}
	}
	fs := newSet(&o, &config)
	if err := fs.Parse(args); err != nil {
		return Options{}, nil, err
	}
	return o, fs.Args(), o.Validate()
}

// Usage writes the post-render flags' help.
func Usage(name string, w io.Writer) {
	var o Options
	var config string
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringVar(&config, "config", "", "YAML file with any of the knobs below (flags override it)")
	d := DefaultOptions()
	o = d
	AddFlags(fs, &o)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// LoadConfig reads a config file over the defaults. Unknown keys are errors:
// a misspelt knob must not be silently ignored.
func LoadConfig(file string) (Options, error) {
	o := DefaultOptions()
	b, err := os.ReadFile(file)
	if err != nil {
		return o, fmt.Errorf("--config: cannot read %s: %s", file, pathErrReason(err))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return o, nil
	}
	if err := yaml.UnmarshalStrict(b, &o); err != nil {
		return o, fmt.Errorf("--config %s: %s (keys: replicas, antiAffinity, topologyKey, zoneSpread, sharedPVC, subPaths, createSharedPVC, storageClass, size, kustomize)", file, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "), "json: "))
	}
	return o, nil
}

func pathErrReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Validate checks every knob and names the flag of the first bad one.
func (o Options) Validate() error {
	check := func(comp string, n int32, flag string) error {
		if n < minReplicas || n > maxReplicas {
			return fmt.Errorf("%s: %s%d is out of range; use %d to %d", flag, comp, n, minReplicas, maxReplicas)
		}
		return nil
	}
	if err := check("", o.Replicas.Min, "--replicas"); err != nil {
		return err
	}
	for _, c := range harbor.SortedKeys(o.Replicas.Exact) {
		if !harbor.IsComponent(c) {
			return fmt.Errorf("--replicas: unknown component %q; components are %s", c, strings.Join(harbor.Components, ", "))
		}
		if err := check(c+"=", o.Replicas.Exact[c], "--replicas"); err != nil {
			return err
		}
	}
	switch o.AntiAffinity {
	case AntiAffinitySoft, AntiAffinityHard, AntiAffinityNone:
	default:
		return fmt.Errorf("--anti-affinity: %q is not soft, hard or none", o.AntiAffinity)
	}
	if errs := validation.IsQualifiedName(o.TopologyKey); len(errs) > 0 {
		return fmt.Errorf("--topology-key: %q is not a label key: %s", o.TopologyKey, errs[0])
	}
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
	if o.CreateSharedPVC && o.SharedPVC == "" {
		return fmt.Errorf("--create-shared-pvc needs --shared-pvc NAME: the claim to create")
	}
	if !o.CreateSharedPVC && o.StorageClass != "" {
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
	if o.Kustomize != "" {
		st, err := os.Stat(o.Kustomize)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("--kustomize: %s is not a directory holding a kustomization.yaml", o.Kustomize)
		}
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
