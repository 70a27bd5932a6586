// Package helmrun is `helm harborha install|upgrade|template` in full:
// preflight, then the spine (discovery, bootstrap, the values overlay),
// then the Helm run of helmexec.
package helmrun

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/pipeline"
	"github.com/harborha/helm-harborha/internal/values"
)

// Options are one `helm harborha install|upgrade|template`, in kubectl's
// shape: AddFlags defines our flags, Complete tells our arguments from
// Helm's and resolves them, Validate checks ours before anything runs,
// and Run discovers, bootstraps and runs Helm.
type Options struct {
	Action    string // install, upgrade or template
	Flags     *pipeline.Flags
	Preflight Preflight // install and upgrade (preflight.go)
	// Release is Helm's arguments, read once.
	Release *helmexec.Release

	input *pipeline.Input
	flags *pflag.FlagSet
	helm  string

	// Seams for tests (nil: the real thing): how the Helm major is learnt
	// and how Helm is run.
	major func(ctx context.Context, helm string) (int, error)
	exec  func(ctx context.Context, r *helmexec.Run) (int, error)
}

// NewOptions returns the options of a wrapper; generator names harborha
// in the overlay's header ("helm-harborha 0.1.0").
func NewOptions(action, generator string) *Options {
	return &Options{Action: action, Flags: pipeline.NewFlags(generator)}
}

// PassesThrough marks a command whose arguments are Helm's too.
func (o *Options) PassesThrough() {}

// AddFlags defines every flag of ours on fs. Complete takes exactly these
// out of the arguments; everything else is Helm's.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	o.Flags.AddRenderFlags(fs)
	if o.Action != "template" {
		o.Flags.AddInstallFlags(fs)
		o.Preflight.AddFlags(fs)
	}
}

// Complete splits args into ours (parsed into the options) and Helm's,
// reads Helm's, and resolves the input of the run.
func (o *Options) Complete(args []string) error {
	var err error
	if o.Release, err = helmexec.ParseArgs(o.Action, args, o.flags); err != nil {
		return err
	}
	if o.Release.Chart == "" {
		return fmt.Errorf("%s needs the chart: helm harborha %s [RELEASE] CHART [flags]", o.Action, o.Action)
	}
	o.helm = helmexec.HelmBin()
	if o.input, err = o.Flags.ToInput(pipeline.HelmSettings(o.Release)); err != nil {
		return err
	}
	o.input.Command, o.input.Release, o.input.Steps = o.Action, o.Release.Name, true
	o.input.Stage = o.Flags.InstallStage(o.Action, o.Release.DryRun)
	return nil
}

// Validate checks our flags: a bad one must fail before anything changes.
func (o *Options) Validate() error { return o.input.Validate() }

// Run discovers and bootstraps (unless told not to) and runs Helm with the
// overlay and our post-renderer; progress and warnings go to s.Err. A
// failed Helm is a command.ExitError of Helm's status.
func (o *Options) Run(ctx context.Context, s command.Streams) error {
	r, err := o.helmRun(ctx, s)
	if err != nil {
		return err
	}
	run := r.Exec
	if o.exec != nil {
		run = func(ctx context.Context) (int, error) { return o.exec(ctx, r) }
	}
	code, err := run(ctx)
	if err == nil && code != 0 {
		err = &command.ExitError{Code: code} // Helm has said why
	}
	return err
}

// helmRun prepares the Helm run: the checks before anything changes, the
// spine's overlay and knobs.
func (o *Options) helmRun(ctx context.Context, s command.Streams) (*helmexec.Run, error) {
	major, err := helmexec.Prepare(ctx, o.helm, o.Release, o.majorOf) // before anything changes in the cluster
	if err != nil {
		return nil, err
	}
	if err := o.preflight(ctx, s.Err); err != nil {
		return nil, err
	}
	r := &helmexec.Run{Helm: o.helm, Major: major, Action: o.Action, HelmArgs: o.Release.Args,
		PostRender: o.Flags.Knobs.Args(), Stdout: s.Out, Stderr: s.Err, Progress: s.Err}
	if !o.Flags.NoDiscover {
		if err := o.overlay(ctx, r, s.Err); err != nil {
			return nil, err
		}
	}
	if r.Self, err = helmexec.PostRendererCommand(); err != nil {
		return nil, err
	}
	o.handOver(ctx, s.Err) // handover.go: last, right before Helm
	return r, nil
}

// overlay runs the spine for the chart the release installs and hands
// Helm the overlay and the Redis password's Secret it learnt.
func (o *Options) overlay(ctx context.Context, r *helmexec.Run, progress io.Writer) error {
	chart, err := values.ChartOfRelease(o.Release.Chart, o.Release.Version)
	if err != nil {
		return err
	}
	o.input.Overlay.Chart = chart
	res, err := o.input.Run(ctx, progress)
	if err != nil {
		return err
	}
	if r.Overlay, err = res.Overlay.YAML(); err != nil {
		return err
	}
	if res.Redis != nil {
		r.PostRender = append(r.PostRender, res.Redis.Args()...)
	}
	if res.MaxConnections > 0 {
		r.PostRender = append(r.PostRender, "--database-max-connections="+strconv.Itoa(res.MaxConnections))
	}
	if res.DatabasePods != "" {
		r.PostRender = append(r.PostRender, "--database-pods="+res.DatabasePods)
	}
	return nil
}

func (o *Options) majorOf(ctx context.Context, helm string) (int, error) {
	if o.major != nil {
		return o.major(ctx, helm)
	}
	return helmexec.Major(ctx, helm)
}
