package postrender

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Flags are the post-render knobs as command-line flags, with the config
// file flag: defined once (Add) for post-render, lint and the install
// wrappers, and resolved once per command (Resolve): the defaults, then
// the config file, then every knob flag in the order given, so that a flag
// overrides the file key by key (--replicas core=3 keeps the file's other
// counts).
type Flags struct {
	// ConfigFlag names the config-file flag; "config" when empty. Lint,
	// where --config would be ambiguous, calls it "post-render-config".
	ConfigFlag string
	// UsagePrefix starts every knob's help text ("with --post-render: ").
	UsagePrefix string
	// ReadFile reads the config file (nil: os.ReadFile); tests count the
	// reads with it.
	ReadFile func(name string) ([]byte, error)

	config string
	given  []knob // knob flags as parsed, in order
	names  []string
}

// knob is one knob flag as it was given.
type knob struct{ name, value string }

// recorder is a knob flag's value: it checks the value's syntax as pflag
// sets it (on scratch options) and records it for Resolve.
type recorder struct {
	pflag.Value
	name string
	f    *Flags
}

func (r recorder) Set(s string) error {
	if err := r.Value.Set(s); err != nil {
		return err
	}
	r.f.given = append(r.f.given, knob{r.name, s})
	return nil
}

func (f *Flags) configName() string {
	if f.ConfigFlag == "" {
		return "config"
	}
	return f.ConfigFlag
}

// Add defines the config flag and the knobs on fs.
func (f *Flags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, f.configName(), "", f.UsagePrefix+"YAML file with any of the knobs below (flags override it)")
	f.addRecorded(fs)
}

// addRecorded defines the knobs on fs, recording what is given.
func (f *Flags) addRecorded(fs *pflag.FlagSet) {
	scratch := DefaultKnobs()
	knobs := pflag.NewFlagSet("knobs", pflag.ContinueOnError)
	addKnobs(knobs, &scratch)
	f.names = nil
	knobs.VisitAll(func(fl *pflag.Flag) {
		fl.Usage = f.UsagePrefix + fl.Usage
		fl.Value = recorder{Value: fl.Value, name: fl.Name, f: f}
		fs.AddFlag(fl)
		f.names = append(f.names, fl.Name)
	})
}

// Given reports the knob flags that were set, by name, in the order they
// were defined; the config flag counts as one.
func (f *Flags) Given() []string {
	var out []string
	if f.config != "" {
		out = append(out, f.configName())
	}
	for _, n := range f.names {
		for _, g := range f.given {
			if g.name == n {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// Args are the flags as a post-renderer process takes them: what the
// wrappers hand Helm to pass on.
func (f *Flags) Args() []string {
	var out []string
	if f.config != "" {
		out = append(out, "--config="+f.config)
	}
	for _, g := range f.given {
		out = append(out, "--"+g.name+"="+g.value)
	}
	return out
}

// Resolve returns the knobs: the defaults, the config file, then the
// flags in the order given. A command resolves once: the file is read, and
// --kustomize checked, each time.
func (f *Flags) Resolve() (Knobs, error) {
	o := DefaultKnobs()
	if f.config != "" {
		var err error
		if o, err = f.loadConfig(); err != nil {
			return Knobs{}, err
		}
	}
	knobs := pflag.NewFlagSet("knobs", pflag.ContinueOnError)
	addKnobs(knobs, &o)
	for _, g := range f.given {
		// The syntax was checked when pflag set it; only the sum is new.
		if err := knobs.Set(g.name, g.value); err != nil {
			return Knobs{}, fmt.Errorf("--%s: %v", g.name, err)
		}
	}
	return o, o.Validate()
}

// addKnobs defines the knobs on fs, bound to o: values already in o
// (defaults, or a config file) stay unless a flag sets them.
func addKnobs(fs *pflag.FlagSet, o *Knobs) {
	fs.SortFlags = false
	fs.Var(replicasValue{&o.Replicas}, "replicas", "raise every component to at least N replicas, or set exact counts per component (core=3,trivy=1)")
	fs.Var(autoscaleValue{&o.Autoscale}, "autoscale", "a HorizontalPodAutoscaler (CPU) per component in place of a fixed count: MIN:MAX for every Deployment, component=MIN:MAX for one (trivy only by name); the workload then pins no replicas")
	fs.StringVar(&o.AntiAffinity, "anti-affinity", o.AntiAffinity, "pod anti-affinity between a component's replicas: soft, hard or none")
	fs.StringVar(&o.TopologyKey, "topology-key", o.TopologyKey, "node label that anti-affinity spreads replicas over")
	fs.BoolVar(&o.ZoneSpread, "zone-spread", o.ZoneSpread, "also spread each component over zones (topologySpreadConstraint on "+ZoneTopologyKey+", ScheduleAnyway)")
	fs.StringVar(&o.SharedPVC, "shared-pvc", o.SharedPVC, "ReadWriteMany claim that registry and jobservice share, each on its own subPath; the chart's own claims for them are dropped")
	fs.Var(mapValue{&o.SubPaths}, "subpath", "subPath per component on the shared claim (registry=registry,jobservice=jobservice)")
	fs.BoolVar(&o.CreateSharedPVC, "create-shared-pvc", o.CreateSharedPVC, "also emit the --shared-pvc claim (ReadWriteMany, kept on uninstall)")
	fs.StringVar(&o.StorageClass, "storage-class", o.StorageClass, "storage class of the claim made by --create-shared-pvc (an RWX class such as NFS or CephFS)")
	fs.StringVar(&o.Size, "size", o.Size, "size of the claim made by --create-shared-pvc")
	fs.StringVar(&o.Kustomize, "kustomize", o.Kustomize, "directory with your own kustomization, applied after ours (our output is its first resource)")
	fs.StringVar(&o.RedisPasswordSecret, "redis-password-secret", o.RedisPasswordSecret, "Secret NAME[:KEY] (key default "+DefaultRedisPasswordKey+") in Harbor's namespace holding the Redis password: pods read it by reference, none stays in ConfigMaps, env values or Secrets built from values")
	fs.StringVar(&o.RedisUsername, "redis-username", o.RedisUsername, "Redis ACL user for the rebuilt Redis URLs (default: the chart's own, if it wrote one)")
	fs.Int32Var(&o.PreStopSleep, "prestop-sleep", o.PreStopSleep, "seconds a serving pod waits (preStop sleep) before its process is stopped, so endpoints drain first; 0: no pause (Kubernetes before 1.30)")
	fs.IntVar(&o.DatabaseMaxConnections, "database-max-connections", o.DatabaseMaxConnections, fmt.Sprintf("the PostgreSQL cluster's max_connections, which Harbor's connection pools are sized to fit (install and upgrade read it from the cluster; default %d)", DefaultMaxConnections))
	fs.StringVar(&o.DatabaseProxyImage, "database-proxy-image", o.DatabaseProxyImage, "image of harborha-dbproxy, put beside core, jobservice and exporter as a native sidecar (Kubernetes 1.29+) that holds their database connections through a PostgreSQL switchover; empty: no proxy")
	fs.StringVar(&o.DatabasePods, "database-pods", o.DatabasePods, "host:port naming every PostgreSQL pod (the cluster's headless Service), where the database proxy finds a new primary the moment it is promoted, before the primary Service's route follows (install and upgrade read it from the cluster; empty: the Service alone)")
}

// configKeys are the keys a config file may hold, for its error messages.
const configKeys = "replicas, autoscale, antiAffinity, topologyKey, zoneSpread, sharedPVC, subPaths, createSharedPVC, storageClass, size, kustomize, redisPasswordSecret, redisUsername, preStopSleep, databaseMaxConnections, databaseProxyImage, databasePods"

// loadConfig reads the config file over the defaults. Unknown keys are
// errors: a misspelt knob must not be silently ignored.
func (f *Flags) loadConfig() (Knobs, error) {
	o := DefaultKnobs()
	flag := "--" + f.configName()
	read := f.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	b, err := read(f.config)
	if err != nil {
		return o, fmt.Errorf("%s: cannot read %s: %s", flag, f.config, pathErrReason(err))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return o, nil
	}
	if err := yaml.UnmarshalStrict(b, &o); err != nil {
		reason := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "), "json: ")
		return o, fmt.Errorf("%s %s: %s (keys: %s)", flag, f.config, reason, configKeys)
	}
	return o, nil
}
