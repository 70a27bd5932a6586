package pipeline

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// BootstrapOptions are `helm harborha bootstrap RELEASE`: the spine's
// discovery and bootstrap, without an overlay.
type BootstrapOptions struct {
	Flags  *Flags
	DryRun bool
	Output output.Format

	release string
	kube    *kube.Flags
	fs      *pflag.FlagSet
	input   *Input
}

// NewBootstrapOptions are the defaults.
func NewBootstrapOptions() *BootstrapOptions { return &BootstrapOptions{Flags: NewFlags("")} }

// AddFlags defines Helm's connection flags, the choice of clusters and
// bootstrap's flags.
func (o *BootstrapOptions) AddFlags(fs *pflag.FlagSet) {
	o.fs = fs
	o.kube = kube.NewFlags()
	o.kube.AddFlags(fs)
	o.Flags.AddDiscoveryFlags(fs)
	o.Flags.Bootstrap.AddFlags(fs, "timeout")
	fs.StringVar(&o.Flags.Overlay.Database, "database", bootstrap.DefaultDatabase, "PostgreSQL database for Harbor, owned by --db-user")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the Secrets and Jobs as YAML (passwords redacted) and create nothing")
	output.AddFlag(fs, &o.Output, "with --dry-run only yaml", output.Text, output.JSON, output.YAML)
	o.Flags.AddForceFlag(fs, "force", "bootstrap even when a cluster is not Running or has no primary pod")
}

// Complete takes the release, the one argument, and resolves the input.
func (o *BootstrapOptions) Complete(args []string) (err error) {
	if o.release, err = command.OneArg(args, "bootstrap needs the Helm release name, and only that argument: helm harborha bootstrap RELEASE [flags]"); err != nil {
		return err
	}
	if o.input, err = o.Flags.ToInput(o.kube.Settings()); err != nil {
		return err
	}
	o.input.Command, o.input.Release, o.input.Overlay, o.input.Stage = "bootstrap", o.release, nil, Create
	if o.DryRun {
		o.input.Stage = DryRun
	}
	return nil
}

// Validate refuses what cannot mean anything before a cluster is asked.
func (o *BootstrapOptions) Validate() error {
	if o.DryRun && o.fs.Changed("output") && o.Output != output.YAML {
		return fmt.Errorf("--dry-run prints YAML: drop -o %s", o.Output)
	}
	return o.input.Validate()
}

// Run bootstraps (or prints what it would create) and writes the result
// to s.Out; progress and warnings go to s.Err.
func (o *BootstrapOptions) Run(ctx context.Context, s command.Streams) error {
	res, err := o.input.Run(ctx, s.Err)
	if err != nil {
		return err
	}
	if o.DryRun {
		_, err = s.Out.Write(res.DryRun)
		return err
	}
	return o.Output.Write(s.Out, res.Bootstrap)
}
