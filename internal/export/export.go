// Package export writes the post-renderer's HA changes as data for the
// GitOps tools that run no Helm post-renderer (`helm harborha export`):
// a kustomization whose helmCharts inflates the chart and whose patches
// and resources carry our changes (kustomize build --enable-helm, Argo CD),
// or a Flux HelmRelease whose postRenderers carry the patches, beside a
// manifest with the objects Flux's post-renderers cannot add.
//
// The changes are the post-renderer's own plan (Renderer.Plan), turned
// into strategic-merge patches where kustomize reproduces the post-render
// output exactly with them, and kept as the plan's JSON6902 operations
// where it does not; the export checks that, in-process, before it writes.
package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/pipeline"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Formats.
const (
	FormatKustomize = "kustomize"
	FormatFlux      = "flux"
)

// Options are one `helm harborha export`: the template wrapper's flags and
// Helm's arguments (told apart by helmexec.Split), plus the format and the
// output directory.
type Options struct {
	Flags     *pipeline.Flags
	Format    string
	OutputDir string

	rel   *helmexec.Release
	input *pipeline.Input
	flags *pflag.FlagSet
	helm  string
}

// NewOptions returns the options; generator names harborha in messages.
func NewOptions(generator string) *Options {
	return &Options{Flags: pipeline.NewFlags(generator)}
}

// PassesThrough marks a command whose arguments are Helm's too.
func (o *Options) PassesThrough() {}

// AddFlags defines the template wrapper's flags and ours on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	fs.StringVar(&o.Format, "format", "", "what to write: kustomize (helmCharts + patches, for kustomize build --enable-helm and Argo CD) or flux (a HelmRelease with postRenderers, and the objects for a Flux Kustomization)")
	fs.StringVar(&o.OutputDir, "output-dir", "", "directory to write, which must not exist or be empty")
	o.Flags.AddRenderFlags(fs)
}

// Complete splits the arguments, reads Helm's and resolves the input: the
// template wrapper's run, which changes nothing in the cluster.
func (o *Options) Complete(args []string) error {
	var err error
	if o.rel, err = parseRelease(args, o.flags); err != nil {
		return err
	}
	o.helm = helmexec.HelmBin()
	if o.input, err = o.Flags.ToInput(pipeline.HelmSettings(o.rel)); err != nil {
		return err
	}
	o.input.Command, o.input.Release, o.input.Stage, o.input.Steps = "template", o.rel.Name, pipeline.ReadPrior, true
	return nil
}

// Validate checks our flags before anything is rendered or written.
func (o *Options) Validate() error {
	switch o.Format {
	case FormatKustomize, FormatFlux:
	case "":
		return errors.New("--format is required: kustomize or flux")
	default:
		return fmt.Errorf("--format %q: use kustomize or flux", o.Format)
	}
	if o.OutputDir == "" {
		return errors.New("--output-dir is required: the directory to write the export into")
	}
	if err := checkOutputDir(o.OutputDir); err != nil {
		return err
	}
	if err := o.input.Validate(); err != nil {
		return err
	}
	if o.input.Knobs.Kustomize != "" {
		return fmt.Errorf("--kustomize: an export is a kustomization itself; put yours on top of it (resources: [%s]) instead", o.OutputDir)
	}
	return nil
}

// checkOutputDir accepts a directory that does not exist (its parent
// must) or is empty.
func checkOutputDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if st, perr := os.Stat(filepath.Dir(filepath.Clean(dir))); perr != nil || !st.IsDir() {
			return fmt.Errorf("--output-dir %s: its parent directory does not exist; create it first", dir)
		}
		return nil
	case err != nil:
		return fmt.Errorf("--output-dir %s: %v", dir, pathError(err))
	case len(entries) > 0:
		return fmt.Errorf("--output-dir %s is not empty; give a new or empty directory (the export never overwrites files)", dir)
	}
	return nil
}

// Run renders the chart, plans the HA changes and writes them. Progress
// and warnings go to s.Err; nothing is written unless all succeeds.
func (o *Options) Run(ctx context.Context, s command.Streams) error {
	settings := o.input.Cluster.Settings()
	ch, err := locateChart(o.rel, settings)
	if err != nil {
		return err
	}
	if o.Format == FormatFlux && ch.Local() {
		if _, err := pathInRepository(o.OutputDir); err != nil {
			return err // before discovery and rendering
		}
	}
	knobs, overlay, err := o.discover(ctx, ch, s.Err)
	if err != nil {
		return err
	}
	vs, err := makeValues(overlay, pipeline.HelmValues(o.rel.Values), getter.All(settings))
	if err != nil {
		return err
	}
	err = writeAtomically(o.OutputDir, func(stage string) error {
		return o.stage(ctx, stage, ch, vs, knobs, s.Err)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "harborha export: wrote %s (--format %s)\n", o.OutputDir, o.Format)
	return nil
}

// stage writes the export into stage: the chart (when local), the values,
// then the format's files, from the post-render plan of the chart rendered
// with those very files.
func (o *Options) stage(ctx context.Context, stage string, ch *chartRef, vs *valuesSet, knobs postrender.Knobs, progress io.Writer) error {
	chartPath := ch.Path
	if ch.Local() {
		var err error
		if chartPath, err = writeChart(stage, ch); err != nil {
			return err
		}
	}
	var files []string
	for _, f := range vs.Files {
		p := filepath.Join(stage, filepath.FromSlash(f.Name))
		if err := writeFile(p, f.Data); err != nil {
			return err
		}
		files = append(files, p)
	}
	rendered, err := o.render(ctx, chartPath, files)
	if err != nil {
		return err
	}
	b, err := plan(rendered, knobs)
	if err != nil {
		return err
	}
	output.Warn(progress, "export", b.Warnings)
	if o.Format == FormatFlux {
		return writeFlux(stage, o.rel, ch, vs, b, o.OutputDir)
	}
	return writeKustomize(stage, o.rel, ch, vs, b)
}

// render runs the user's helm template on the chart with the export's
// values files, as kustomize's helmCharts will.
func (o *Options) render(ctx context.Context, chartPath string, files []string) ([]byte, error) {
	helm := o.helm
	cmd := exec.CommandContext(ctx, helm, templateArgs(o.rel, chartPath, files)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("helm template %s %s failed: %s", o.rel.Name, o.rel.Chart, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("cannot run helm %q: %v; set HELM_BIN or put helm on PATH", helm, err)
	}
	return out.Bytes(), nil
}

// plan plans the post-render of the rendered stream, applies the plan as
// the post-renderer would, and turns it into checked patches and resources.
func plan(rendered []byte, knobs postrender.Knobs) (*bundle, error) {
	r, err := postrender.New(knobs, io.Discard)
	if err != nil {
		return nil, err
	}
	docs, err := manifest.Parse(rendered)
	if err != nil {
		return nil, err
	}
	p, err := r.Plan(docs)
	if err != nil {
		return nil, err
	}
	out, err := r.Apply(docs, p)
	if err != nil {
		return nil, err
	}
	return makeBundle(rendered, docs, p.Changes(), out)
}
