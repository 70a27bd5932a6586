package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/values"
)

// ValuesOptions are `helm harborha values`: the spine up to the overlay,
// written to stdout or a file, pointed at what `bootstrap RELEASE` made
// with --bootstrapped RELEASE.
type ValuesOptions struct {
	Flags        *Flags
	Bootstrapped string // RELEASE
	ChartPath    string // --chart
	ChartVersion string // --chart-version
	File         string // -o

	kube  *kube.Flags
	input *Input
}

// NewValuesOptions are the defaults; generator names harborha in the
// overlay's header.
func NewValuesOptions(generator string) *ValuesOptions {
	return &ValuesOptions{Flags: NewFlags(generator)}
}

// AddFlags defines Helm's connection flags, the choice of clusters, the
// overlay's flags (--force accepts unhealthy clusters) and the command's.
func (o *ValuesOptions) AddFlags(fs *pflag.FlagSet) {
	o.kube = kube.NewFlags()
	o.kube.AddFlags(fs)
	o.Flags.AddDiscoveryFlags(fs)
	o.Flags.AddOverlayFlags(fs, "force")
	fs.StringVar(&o.Bootstrapped, "bootstrapped", "", "point the overlay at what `bootstrap RELEASE` created: the role, database, Redis user or copy, and the generated values' Secrets")
	fs.StringVar(&o.ChartPath, "chart", "", "the goharbor chart (directory or .tgz) the values are for: detects its version")
	fs.StringVar(&o.ChartVersion, "chart-version", "", "the goharbor chart version the values are for (default: the current chart)")
	fs.StringVarP(&o.File, "output", "o", "", "write to FILE (mode 0600) instead of stdout")
}

// Complete refuses arguments and resolves the input.
func (o *ValuesOptions) Complete(args []string) (err error) {
	if err := command.NoArgs(args); err != nil {
		return err
	}
	if o.input, err = o.Flags.ToInput(o.kube.Settings()); err != nil {
		return err
	}
	o.input.Command, o.input.Release, o.input.Stage = "values", o.Bootstrapped, ReadNothing
	if o.Bootstrapped != "" {
		o.input.Stage = ReadRequired
	}
	return nil
}

// Validate checks the overlay's flags, then learns the chart from --chart
// or --chart-version.
func (o *ValuesOptions) Validate() (err error) {
	if err := o.input.Validate(); err != nil {
		return err
	}
	o.input.Overlay.Chart, err = values.ChartFromFlags(o.ChartPath, o.ChartVersion)
	return err
}

// Run writes the overlay to s.Out or -o FILE, and tells on s.Err how the
// post-renderer reaches the Redis password.
func (o *ValuesOptions) Run(ctx context.Context, s command.Streams) error {
	res, err := o.input.Run(ctx, s.Err)
	if err != nil {
		return err
	}
	doc, err := res.Overlay.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "harborha values: the Redis password is not in the values, Harbor's pods read it from a Secret: post-render with %s\n", strings.Join(res.Redis.Args(), " "))
	if o.File == "" || o.File == "-" {
		_, err = s.Out.Write(doc)
		return err
	}
	if err := values.WriteFile(o.File, doc); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "harborha values: wrote %s (mode 0600)\n", o.File)
	return nil
}
