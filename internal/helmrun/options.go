// Package helmrun is `helm harborha install|upgrade|template` in full:
// preflight, discovery, bootstrap and the values overlay, then the Helm run
// of helmexec.
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
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
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
	// Chart is the chart the release renders, when the caller has loaded
	// it (export); otherwise the overlay learns it from the chart argument.
	Chart *values.Chart

	client         *kube.Client // connect's
	flags          *pflag.FlagSet
	helmArgs       []string
	release, chart string
	helm           string

	// Seams for tests (nil: the real thing): how the Helm major is learnt
	// and how Helm is run.
	major func(ctx context.Context, helm string) (int, error)
	exec  func(ctx context.Context, r *helmexec.Run) (int, error)
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
	mine, helmArgs, err := helmexec.Split(args, o.flags)
	if err != nil {
		return err
	}
	o.flags.SetOutput(io.Discard)
	if err := o.flags.Parse(mine); err != nil {
		return fmt.Errorf("%v (see --help)", err)
	}
	o.helmArgs = helmArgs
	pos := helmexec.Positionals(o.Action, helmArgs)
	if len(pos) == 0 {
		return fmt.Errorf("%s needs the chart: helm harborha %s [RELEASE] CHART [flags]", o.Action, o.Action)
	}
	o.release, o.chart = "", pos[len(pos)-1]
	if len(pos) >= 2 {
		o.release = pos[0]
	}
	o.helm = helmexec.HelmBin()
	return nil
}

// Validate checks our flags: a bad one must fail before anything changes.
func (o *Options) Validate() error {
	if _, err := o.Knobs.Resolve(); err != nil {
		return err
	}
	if err := bootstrap.CheckRotate(o.Bootstrap.Rotate); err != nil {
		return err
	}
	return o.Values.Validate()
}

// Run discovers and bootstraps (unless told not to) and runs Helm with the
// overlay and our post-renderer. It returns Helm's exit status; progress
// and warnings go to stderr.
func (o *Options) Run(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	major, err := helmexec.Prepare(ctx, o.helm, o.helmArgs, o.majorOf) // before anything changes in the cluster
	if err != nil {
		return 1, err
	}
	if err := o.preflight(ctx, stderr); err != nil {
		return 1, err
	}
	var overlay []byte
	var knobs []string
	if !o.NoDiscover {
		if overlay, knobs, err = o.Overlay(ctx, stderr); err != nil {
			return 1, err
		}
	}
	self, err := helmexec.PostRendererCommand()
	if err != nil {
		return 1, err
	}
	r := &helmexec.Run{
		Helm: o.helm, Major: major, Action: o.Action, HelmArgs: o.helmArgs, Overlay: overlay,
		PostRender: append(o.Knobs.Args(), knobs...), Self: self, Stdout: stdout, Stderr: stderr, Progress: stderr,
	}
	if o.exec != nil {
		return o.exec(ctx, r)
	}
	return r.Exec(ctx)
}

func (o *Options) majorOf(ctx context.Context, helm string) (int, error) {
	if o.major != nil {
		return o.major(ctx, helm)
	}
	return helmexec.Major(ctx, helm)
}

// Overlay discovers the clusters (connecting as the Helm run will: Helm's
// environment, or -n/--kube-context/--kubeconfig among Helm's arguments),
// builds the overlay and points it at bootstrap's Secrets: install and
// upgrade create them (the database role and Redis user unless
// --no-bootstrap, the generated values always), template and --dry-run
// only read what exists. It returns the post-render knobs that reference
// the Redis password, unless the user named the Secret.
func (o *Options) Overlay(ctx context.Context, progress io.Writer) ([]byte, []string, error) {
	chart, err := o.chartOfRelease()
	if err != nil {
		return nil, nil, err
	}
	vo := o.Values
	vo.Chart = chart
	fmt.Fprintf(progress, "harborha: discovering the KubeBlocks clusters for namespace %s\n", o.kubeSettings().Namespace())
	d := o.Discovery
	d.NodeAddress = vo.ExternalURL == ""
	client, err := o.connect()
	if err != nil {
		return nil, nil, err
	}
	found, err := discover.FindWith(ctx, client, d)
	if err != nil {
		return nil, nil, err
	}
	var prior bootstrap.Result
	if o.readOnly() && o.release != "" {
		if prior, err = bootstrap.Prior(ctx, client, client.Namespace, o.release, vo.Database); err != nil {
			return nil, nil, err
		}
	}
	vo.Bootstrapped = o.bootstraps() || prior.Database != nil
	doc, warnings, err := values.Generate(found, client.Namespace, vo)
	if err != nil {
		return nil, nil, err
	}
	output.Warn(progress, o.Action, append(found.Warnings, warnings...))
	fmt.Fprintf(progress, "harborha: values overlay: PostgreSQL %s, Redis %s\n", found.PostgreSQL.Ref(), found.Redis.Ref())
	res, err := o.secrets(ctx, client, found, vo.Database, prior, progress)
	if err != nil {
		return nil, nil, err
	}
	if doc, err = res.Patch(doc, chart.RedisUsername); err != nil {
		return nil, nil, err
	}
	knobs, err := o.redisKnobs(res, found, client.Namespace, chart)
	return doc, knobs, err
}

func (o *Options) chartOfRelease() (values.Chart, error) {
	if o.Chart != nil {
		return *o.Chart, nil
	}
	return values.ChartOfRelease(o.chart, helmexec.FlagValue(o.helmArgs, "--version"))
}

// readOnly: template and Helm's --dry-run change nothing in the cluster.
func (o *Options) readOnly() bool { return o.Action == "template" || dryRun(o.helmArgs) }

// secrets creates bootstrap's Secrets for install and upgrade, or hands
// back what a read-only run found.
func (o *Options) secrets(ctx context.Context, client *kube.Client, found *discover.Result, database string, prior bootstrap.Result, progress io.Writer) (bootstrap.Result, error) {
	if o.readOnly() {
		if g := prior.Generated; g != nil && len(g.Missing()) > 0 {
			fmt.Fprintf(progress, "harborha: Secrets %s do not exist yet, so the chart generates those values on every render (install, upgrade or bootstrap %s creates them)\n", strings.Join(g.Missing(), ", "), o.release)
		} else if o.release == "" {
			fmt.Fprintf(progress, "harborha: no RELEASE, so no generated Secrets: the chart generates its secrets on every render\n")
		}
		return prior, nil
	}
	if o.release == "" {
		return bootstrap.Result{}, fmt.Errorf("%s needs RELEASE to name the Secrets it creates (--generate-name cannot be used)", o.Action)
	}
	res := bootstrap.Result{Namespace: client.Namespace}
	if o.bootstraps() {
		fmt.Fprintf(progress, "harborha: bootstrapping Harbor's database and users (--no-bootstrap skips this)\n")
		var err error
		if res, err = bootstrap.Run(ctx, client, o.Bootstrap.Options(o.release, client.Namespace, database, found, progress)); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(progress, "harborha: the values the chart would generate, in Secrets created once (--rotate=NAME changes one)\n")
	g, err := generated.Ensure(ctx, client, o.Bootstrap.Generated(o.release, client.Namespace, progress))
	if err != nil {
		return res, err
	}
	res.Generated = &g
	return res, nil
}

// redisKnobs are the knobs that reference the Redis password's Secret:
// bootstrap's, or the discovered one in Harbor's namespace. A Secret the
// user named (--redis-password-secret, or its config key) wins.
func (o *Options) redisKnobs(res bootstrap.Result, found *discover.Result, namespace string, chart values.Chart) ([]string, error) {
	if given, err := o.Knobs.Resolve(); err != nil || given.RedisPasswordSecret != "" {
		return nil, err
	}
	ref, err := res.RedisRef(found, namespace, chart)
	if err != nil {
		return nil, err
	}
	return ref.Args(), nil
}

// connect is the run's one client, connected as Helm connects
// (kubeSettings): preflight and discovery share its configuration and
// connections. A failed connection is not kept: each asker reports it.
func (o *Options) connect() (*kube.Client, error) {
	if o.client == nil {
		c, err := kube.Connect(o.kubeSettings(), kube.Options{})
		if err != nil {
			return nil, err
		}
		o.client = c
	}
	return o.client, nil
}

// kubeSettings are Helm's settings from the environment, with the
// connection flags among Helm's arguments applied: Helm strips them from
// a plugin's arguments, but the binary may run on its own.
func (o *Options) kubeSettings() *cli.EnvSettings {
	settings := kube.NewFlags().Settings()
	if ns := helmexec.FlagValue(o.helmArgs, "-n", "--namespace"); ns != "" {
		settings.SetNamespace(ns)
	}
	if kc := helmexec.FlagValue(o.helmArgs, "--kube-context"); kc != "" {
		settings.KubeContext = kc
	}
	if cfg := helmexec.FlagValue(o.helmArgs, "--kubeconfig"); cfg != "" {
		settings.KubeConfig = cfg
	}
	return settings
}

// bootstraps reports whether the run creates Harbor's database and users
// first: install and upgrade do, unless told not to change the cluster.
func (o *Options) bootstraps() bool {
	return !o.readOnly() && !o.NoBootstrap
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
