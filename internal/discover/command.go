package discover

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// Options are `helm harborha discover`: which clusters, how to show them.
type Options struct {
	Query  Query
	Format output.Format
	kube   *kube.Flags
}

// AddFlags defines Helm's connection flags, the choice of clusters and -o.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.kube = kube.NewFlags()
	o.kube.AddFlags(fs)
	o.Query.AddFlags(fs)
	output.AddFlag(fs, &o.Format, "", output.Text, output.JSON, output.YAML)
}

// Complete refuses arguments: discover takes only flags.
func (o *Options) Complete(args []string) error { return command.NoArgs(args) }

// Validate has nothing to check before the cluster is asked: discovery
// names the flag of a choice that does not fit what it finds.
func (o *Options) Validate() error { return nil }

// Run discovers the clusters and writes what it found to s.Out.
func (o *Options) Run(ctx context.Context, s command.Streams) error {
	r, _, err := Find(ctx, o.kube.Settings(), o.Query)
	if err != nil {
		return err
	}
	output.Warn(s.Err, "discover", r.Warnings)
	return o.Format.Write(s.Out, r)
}
