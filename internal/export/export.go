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
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/harborha/helm-harborha/internal/helmrun"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// Formats.
const (
	FormatKustomize = "kustomize"
	FormatFlux      = "flux"
)

// Options are one `helm harborha export`: the template wrapper's options
// (our flags and Helm's, told apart by helmrun), plus the format and the
// output directory.
type Options struct {
	Wrapper   *helmrun.Options
	Format    string
	OutputDir string

	rel *release
}

// NewOptions returns the options; generator names harborha in messages.
func NewOptions(generator string) *Options {
	return &Options{Wrapper: helmrun.NewOptions("template", generator)}
}

// AddFlags defines the template wrapper's flags and ours on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "format", "", "what to write: kustomize (helmCharts + patches, for kustomize build --enable-helm and Argo CD) or flux (a HelmRelease with postRenderers, and the objects for a Flux Kustomization)")
	fs.StringVar(&o.OutputDir, "output-dir", "", "directory to write, which must not exist or be empty")
	o.Wrapper.AddFlags(fs)
}

// Complete splits the arguments and reads Helm's.
func (o *Options) Complete(args []string) error {
	if err := o.Wrapper.Complete(args); err != nil {
		return err
	}
	rel, err := parseRelease(o.Wrapper.HelmArgs())
	if err != nil {
		return err
	}
	o.rel = rel
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
	if err := o.Wrapper.Validate(); err != nil {
		return err
	}
	knobs, err := o.Wrapper.Knobs.Resolve()
	if err != nil {
		return err
	}
	if knobs.Kustomize != "" {
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
// and warnings go to progress; nothing is written unless all succeeds.
func (o *Options) Run(ctx context.Context, progress io.Writer) error {
	knobs, err := o.Wrapper.Knobs.Resolve()
	if err != nil {
		return err
	}
	settings := cli.New()
	ch, err := locateChart(o.rel, settings)
	if err != nil {
		return err
	}
	if !o.Wrapper.NoDiscover {
		// The overlay is written for the chart this export renders, not
		// one guessed from --version (a range, or none, for a repository
		// chart).
		loaded, err := values.ChartFromLoaded(ch.Chart, "chart "+o.rel.Chart)
		if err != nil {
			return err
		}
		o.Wrapper.Chart = &loaded
	}
	if o.Format == FormatFlux && ch.Local() {
		if _, err := pathInRepository(o.OutputDir); err != nil {
			return err // before discovery and rendering
		}
	}
	ov, err := o.overlay(ctx, progress)
	if err != nil {
		return err
	}
	if ov != nil && len(ov.Knobs) > 0 {
		// The Redis password's Secret, learnt by discovery, as the
		// wrappers hand it to the post-renderer.
		if knobs, err = o.Wrapper.Knobs.ResolveWith(ov.Knobs); err != nil {
			return err
		}
	}
	vs, err := makeValues(ovValues(ov), o.rel.Values, getter.All(settings))
	if err != nil {
		return err
	}
	return writeAtomically(o.OutputDir, func(stage string) error {
		return o.stage(ctx, stage, ch, vs, knobs, progress)
	})
}

// overlay is the discovered values overlay, nil with --no-discover. It
// holds no password in either format: the Redis password reaches the pods
// through the patches' secretKeyRef, which kustomize and Flux apply alike.
func (o *Options) overlay(ctx context.Context, progress io.Writer) (*overlay, error) {
	if o.Wrapper.NoDiscover {
		return nil, nil
	}
	return discoverOverlay(ctx, o.Wrapper, progress)
}

func ovValues(ov *overlay) []byte {
	if ov == nil {
		return nil
	}
	return ov.Values
}

// stage writes the export into stage: the chart (when local), the values,
// then the format's files, from the post-render plan of the chart rendered
// with those very files.
func (o *Options) stage(ctx context.Context, stage string, ch *chartRef, vs *valuesSet, knobs postrender.Options, progress io.Writer) error {
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
	helm := o.Wrapper.Helm()
	cmd := exec.CommandContext(ctx, helm, o.rel.templateArgs(chartPath, files)...)
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
func plan(rendered []byte, knobs postrender.Options) (*bundle, error) {
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
