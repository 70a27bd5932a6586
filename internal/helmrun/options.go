package helmrun

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// Options are one `helm harborha install|upgrade|template`, in kubectl's
// shape: AddFlags defines our flags, Complete tells our arguments from
// Helm's, Validate checks ours before anything runs, and Run discovers,
// bootstraps and runs Helm.
type Options struct {
	Action      string // install, upgrade or template
	Knobs       postrender.Flags
	Discovery   discover.Options
	Values      values.Options
	Bootstrap   bootstrap.Flags // install and upgrade
	Preflight   Preflight       // install and upgrade (preflight.go)
	NoDiscover  bool
	NoBootstrap bool

	flags          *pflag.FlagSet
	helmArgs       []string
	release, chart string
	helm           string

	// Seams for tests (nil: the real thing): how the Helm major is learnt
	// and how Helm is run.
	major func(ctx context.Context, helm string) (int, error)
	exec  func(ctx context.Context, r *Run) (int, error)
}

// NewOptions returns the options of a wrapper; generator names harborha
// in the overlay's header ("helm-harborha 0.1.0").
func NewOptions(action, generator string) *Options {
	o := &Options{Action: action, Values: values.Defaults()}
	o.Values.Generator = generator
	return o
}

// AddFlags defines every flag of ours on fs. Complete takes exactly these
// out of the arguments; everything else is Helm's.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	o.Knobs.Add(fs)
	o.Discovery.AddFlags(fs)
	o.Values.AddFlags(fs, "allow-unhealthy")
	if o.Action != "template" {
		o.Bootstrap.AddFlags(fs, "bootstrap-timeout")
		fs.BoolVar(&o.NoBootstrap, "no-bootstrap", false, "do not create Harbor's database, role and Redis user first")
		o.Preflight.AddFlags(fs)
	}
	fs.BoolVar(&o.NoDiscover, "no-discover", false, "use only the values you give: no cluster discovery (CI without a cluster)")
}

// Complete splits args into ours (parsed into the options) and Helm's,
// and finds the release and chart among Helm's.
func (o *Options) Complete(args []string) error {
	mine, helmArgs, err := Split(args, o.flags)
	if err != nil {
		return err
	}
	o.flags.SetOutput(io.Discard)
	if err := o.flags.Parse(mine); err != nil {
		return fmt.Errorf("%v (see --help)", err)
	}
	o.helmArgs = helmArgs
	pos := Positionals(o.Action, helmArgs)
	if len(pos) == 0 {
		return fmt.Errorf("%s needs the chart: helm harborha %s [RELEASE] CHART [flags]", o.Action, o.Action)
	}
	o.release, o.chart = "", pos[len(pos)-1]
	if len(pos) >= 2 {
		o.release = pos[0]
	}
	o.helm = HelmBin()
	return nil
}

// Validate checks our flags: a bad one must fail before anything changes.
func (o *Options) Validate() error {
	if _, err := o.Knobs.Resolve(); err != nil {
		return err
	}
	return o.Values.Validate()
}

// Run discovers and bootstraps (unless told not to) and runs Helm with the
// overlay and our post-renderer. It returns Helm's exit status; progress
// and warnings go to stderr.
func (o *Options) Run(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	major, err := o.majorOf(ctx)
	if err != nil {
		return 1, err
	}
	if major == 4 {
		if err := RequirePlugin(ctx, o.helm, Helm4PostRenderer); err != nil {
			return 1, err
		}
	}
	if err := o.preflight(ctx, stderr); err != nil {
		return 1, err
	}
	var overlay []byte
	if !o.NoDiscover {
		if overlay, err = o.overlay(ctx, stderr); err != nil {
			return 1, err
		}
	}
	self, err := PostRendererCommand()
	if err != nil {
		return 1, err
	}
	r := &Run{
		Helm: o.helm, Major: major, Action: o.Action, HelmArgs: o.helmArgs, Overlay: overlay,
		PostRender: o.Knobs.Args(), Self: self, Stdout: stdout, Stderr: stderr, Progress: stderr,
	}
	if o.exec != nil {
		return o.exec(ctx, r)
	}
	return r.Exec(ctx)
}

func (o *Options) majorOf(ctx context.Context) (int, error) {
	if o.major != nil {
		return o.major(ctx, o.helm)
	}
	return Major(ctx, o.helm)
}

// overlay discovers the clusters (connecting as the Helm run will: Helm's
// environment, or -n/--kube-context/--kubeconfig among Helm's arguments),
// builds the overlay and, for install and upgrade, bootstraps Harbor's
// database and users and points the overlay at them.
func (o *Options) overlay(ctx context.Context, progress io.Writer) ([]byte, error) {
	chart, err := values.ChartOfRelease(o.chart, FlagValue(o.helmArgs, "--version"))
	if err != nil {
		return nil, err
	}
	found, client, doc, err := o.Discover(ctx, chart, progress)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "harborha: values overlay: PostgreSQL %s, Redis %s\n", found.PostgreSQL.Ref(), found.Redis.Ref())
	if !o.bootstraps() {
		return doc, nil
	}
	if o.release == "" {
		return nil, fmt.Errorf("%s needs RELEASE to name the bootstrap Secrets (or pass --no-bootstrap)", o.Action)
	}
	fmt.Fprintf(progress, "harborha: bootstrapping Harbor's database and users (--no-bootstrap skips this)\n")
	res, err := bootstrap.Run(ctx, client, o.Bootstrap.Options(o.release, client.Namespace, o.Values.Database, found, progress))
	if err != nil {
		return nil, err
	}
	return res.Patch(doc, chart.RedisUsername)
}

// kubeSettings are Helm's settings from the environment, with the
// connection flags among Helm's arguments applied: Helm strips them from
// a plugin's arguments, but the binary may run on its own.
func (o *Options) kubeSettings() *cli.EnvSettings {
	settings := kube.NewFlags().Settings()
	if ns := FlagValue(o.helmArgs, "-n", "--namespace"); ns != "" {
		settings.SetNamespace(ns)
	}
	if kc := FlagValue(o.helmArgs, "--kube-context"); kc != "" {
		settings.KubeContext = kc
	}
	if cfg := FlagValue(o.helmArgs, "--kubeconfig"); cfg != "" {
		settings.KubeConfig = cfg
	}
	return settings
}

// bootstraps reports whether the run creates Harbor's database and users
// first: install and upgrade do, unless told not to change the cluster.
func (o *Options) bootstraps() bool {
	return o.Action != "template" && !o.NoBootstrap && !dryRun(o.helmArgs)
}

// dryRun reports whether Helm is asked not to change the cluster, in
// which case neither do we.
func dryRun(helmArgs []string) bool {
	for _, a := range helmArgs {
		if a == "--dry-run" || (strings.HasPrefix(a, "--dry-run=") && a != "--dry-run=none" && a != "--dry-run=false") {
			return true
		}
	}
	return false
}
