// Package pipeline is harborha's spine, written once: discover the
// KubeBlocks clusters, build the chart's values overlay, bootstrap (or
// read what bootstrap left), point the overlay at it, and learn the Secret
// Harbor's pods read the Redis password from. values, bootstrap, the
// install, upgrade and template wrappers and export all run it.
//
// Its input is resolved once, in kubectl's manner: Flags are the
// command-line flags, ToInput resolves them (the post-render knobs, with
// --config read once), Input.Validate refuses what cannot mean anything
// before the cluster is asked, and Input.Run returns a typed Result: the
// knobs with their Secret, the overlay as data, what bootstrap did, the
// warnings. YAML and command-line arguments are made only at the edges:
// the Helm run, export's writers, values' output.
package pipeline

import (
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// Flags are the spine's command-line flags. Each command binds the groups
// it takes (the Add methods), under the names that do not clash with
// Helm's where Helm's flags are passed through.
type Flags struct {
	Knobs     postrender.Flags
	Discovery discover.Query
	Overlay   values.Spec
	Bootstrap bootstrap.Flags
	// Force accepts clusters that are not Running with a primary pod.
	Force bool
	// NoDiscover: only the values the user gives (the wrappers, export).
	NoDiscover bool
	// NoBootstrap: install and upgrade create only the generated values'
	// Secrets, no role or user.
	NoBootstrap bool

	forceFlag string
}

// NewFlags are the flags' defaults; generator names harborha in the
// overlay's header ("helm-harborha 0.1.0").
func NewFlags(generator string) *Flags {
	f := &Flags{Overlay: values.Defaults()}
	f.Overlay.Generator = generator
	return f
}

// AddDiscoveryFlags defines the choice of clusters.
func (f *Flags) AddDiscoveryFlags(fs *pflag.FlagSet) { f.Discovery.AddFlags(fs) }

// AddOverlayFlags defines the overlay's flags and forceFlag, which
// accepts unhealthy clusters: "force" for values, "allow-unhealthy" in the
// wrappers, where --force is Helm's.
func (f *Flags) AddOverlayFlags(fs *pflag.FlagSet, forceFlag string) {
	f.Overlay.AddFlags(fs)
	f.AddForceFlag(fs, forceFlag, "write the values even when a cluster is not Running or has no primary pod")
}

// AddForceFlag defines the flag that accepts unhealthy clusters.
func (f *Flags) AddForceFlag(fs *pflag.FlagSet, name, usage string) {
	f.forceFlag = name
	fs.BoolVar(&f.Force, name, false, usage)
}

// AddRenderFlags defines what every command that renders the chart takes
// (template, export; install and upgrade add AddInstallFlags'): the
// post-render knobs, the choice of clusters, the overlay's flags and
// --no-discover.
func (f *Flags) AddRenderFlags(fs *pflag.FlagSet) {
	f.Knobs.Add(fs)
	f.AddDiscoveryFlags(fs)
	f.AddOverlayFlags(fs, "allow-unhealthy")
	fs.BoolVar(&f.NoDiscover, "no-discover", false, "use only the values you give: no cluster discovery (CI without a cluster)")
}

// AddInstallFlags defines what install and upgrade add to the render
// flags: bootstrap's (--bootstrap-timeout: --timeout is Helm's) and
// --no-bootstrap.
func (f *Flags) AddInstallFlags(fs *pflag.FlagSet) {
	f.Bootstrap.AddFlags(fs, "bootstrap-timeout")
	fs.BoolVar(&f.NoBootstrap, "no-bootstrap", false, "do not create Harbor's database, role and Redis user first")
}

// ToInput resolves the flags once, for a run connected as settings say:
// the post-render knobs (the defaults, the --config file, the flags) and
// the run's one connection. The caller then says what the run is
// (Command, Release, Stage, the overlay's Chart).
func (f *Flags) ToInput(settings *cli.EnvSettings) (*Input, error) {
	knobs, err := f.Knobs.Resolve()
	if err != nil {
		return nil, err
	}
	overlay := f.Overlay
	return &Input{
		Cluster:   NewCluster(settings),
		Knobs:     knobs,
		Query:     f.Discovery,
		Overlay:   &overlay,
		Bootstrap: f.Bootstrap,
		Database:  f.Overlay.Database,
		Health:    Health{Force: f.Force, Flag: f.forceFlag},
	}, nil
}
