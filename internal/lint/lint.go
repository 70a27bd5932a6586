// Package lint checks a rendered goharbor/harbor release for what keeps it
// from being highly available: single replicas, replicas that may share a
// node, missing or blocking PodDisruptionBudgets, rollouts that stop every
// pod or that the API server rejects, ReadWriteOnce claims under several
// replicas, the chart's single-pod database and Redis, an externalURL with
// a path, Redis Cluster, and Redis passwords in ConfigMaps.
//
// The rules read the release through internal/harbor, the model the
// post-renderer also uses. Input is rendered manifests (files, directories,
// stdin) or a chart rendered in-process with the Helm SDK, optionally
// post-rendered with internal/postrender; --validate also sends every
// object to the API server as a server-side dry run.
//
// Exit status: 0 when no finding fails the lint,
// 1 when an error finding remains (or a warning, with --strict), 2 when the
// lint could not run (bad flags or input, a chart that does not render, an
// unreachable API server).
package lint

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	helmpostrender "helm.sh/helm/v3/pkg/postrender"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Options are `helm harborha lint`, in kubectl's shape: AddFlags binds the
// flags, Complete takes the inputs, Validate checks the combination, Run
// lints.
type Options struct {
	Inputs     []string // files, directories, "-" for stdin
	Chart      ChartFlags
	PostRender bool
	Knobs      postrender.Knobs // the post-renderer's knobs with --post-render
	Output     output.Format    // text, json or sarif
	Disable    []string
	Strict     bool
	// ServerDryRun (--validate) also sends every object to the API
	// server as a server-side dry run.
	ServerDryRun bool
	ListRules    bool
	// Color colours the text report; on a terminal it is coloured anyway
	// (output.ColorTerminal).
	Color   bool
	Version string // the binary's version, for JSON and SARIF
	Kube    *kube.Flags

	knobs *postrender.Flags
}

// Run lints and writes the report to s.Out; the post-renderer's warnings
// go to s.Err. Findings that fail the lint are a command.ExitError of
// status 1; any other error means the lint could not run (exit 2), and
// then nothing was written to s.Out.
func (o *Options) Run(ctx context.Context, s command.Streams) error {
	var out bytes.Buffer
	if o.ListRules {
		if err := writeRules(&out, o.Output); err != nil {
			return err
		}
		_, err := s.Out.Write(out.Bytes())
		return err
	}
	r, err := o.lint(ctx, s)
	if err != nil {
		return err
	}
	if err := o.write(&out, r, output.ColorTerminal(s.Out)); err != nil {
		return err
	}
	if _, err := s.Out.Write(out.Bytes()); err != nil {
		return err
	}
	if r.Summary.Failed {
		return &command.ExitError{Code: 1} // the report says why
	}
	return nil
}

// lint reads or renders the input and runs the rules (and --validate).
func (o *Options) lint(ctx context.Context, s command.Streams) (*Report, error) {
	in, err := o.load(ctx, s)
	if err != nil {
		return nil, err
	}
	if o.PostRender {
		in.maxConnections = o.Knobs.DatabaseMaxConnections
	}
	report, err := lintStream(in)
	if err != nil {
		return nil, err
	}
	if o.ServerDryRun {
		c, err := kube.Connect(o.Kube.Settings(), kube.Options{})
		if err != nil {
			return nil, fmt.Errorf("--validate: %v", err)
		}
		more, err := validate(ctx, c, in.docs)
		if err != nil {
			return nil, err
		}
		report.all = append(report.all, more...)
	}
	return report.finish(in, o.Disable, o.Strict), nil
}

// write writes the report in the format asked.
func (o *Options) write(out *bytes.Buffer, r *Report, terminal bool) error {
	if o.Output == output.SARIF {
		return writeSARIF(out, r, o.Version)
	}
	return o.Output.Write(out, &reportDoc{Tool: jsonTool{Name: ToolName, Version: o.Version}, Report: r, color: o.Color || terminal})
}

// check refuses option combinations that cannot mean anything.
func (o *Options) check() error {
	if o.Output == "" {
		o.Output = output.Text
	}
	for _, id := range o.Disable {
		if RuleByID(id) == nil {
			return fmt.Errorf("--disable %s: no such rule; see --list-rules", id)
		}
	}
	if o.ListRules {
		return nil
	}
	if f := o.chartFlagsWithoutChart(); f != "" {
		return fmt.Errorf("%s is only used with --chart; to lint rendered manifests, render them with those values first", f)
	}
	switch {
	case o.Chart.Chart != "" && len(o.Inputs) > 0:
		return fmt.Errorf("give either --chart or manifests (%s), not both", strings.Join(o.Inputs, " "))
	case o.Chart.Chart == "" && len(o.Inputs) == 0:
		return errors.New("nothing to lint: give a manifest file, a directory, - for stdin (helm template ... | helm harborha lint -), or --chart CHART")
	}
	return nil
}

// load reads or renders the input stream, post-rendered when asked.
func (o *Options) load(ctx context.Context, s command.Streams) (*stream, error) {
	var renderer *postrender.Renderer
	if o.PostRender {
		var err error
		if renderer, err = postrender.New(o.Knobs, s.Err); err != nil {
			return nil, fmt.Errorf("--post-render: %v", err)
		}
	}
	if o.Chart.Chart != "" {
		settings := o.Kube.Settings()
		var pr helmpostrender.PostRenderer // a nil *Renderer in it would not be nil
		if renderer != nil {
			pr = renderer
		}
		data, err := renderChart(ctx, settings, settings.Namespace(), o.Chart, pr)
		if err != nil {
			return nil, err
		}
		return parseSources([]source{{data: data}})
	}
	srcs, err := readSources(o.Inputs, s.In)
	if err != nil {
		return nil, err
	}
	if renderer == nil {
		return parseSources(srcs)
	}
	// Post-render all inputs as one stream, as Helm would hand it over;
	// the documents then come from the post-renderer, not from the files.
	var parts []string
	for _, src := range srcs {
		parts = append(parts, string(src.data))
	}
	outBuf, err := renderer.Run(bytes.NewBufferString(strings.Join(parts, "\n---\n")))
	if err != nil {
		return nil, fmt.Errorf("--post-render: %v", err)
	}
	return parseSources([]source{{data: outBuf.Bytes()}})
}

// findings is a lint's raw result, before suppression.
type findings struct {
	all     []Finding
	objects int
}

// lintStream runs every rule over a parsed stream.
func lintStream(in *stream) (*findings, error) {
	if len(in.docs) == 0 {
		return nil, errors.New("no Kubernetes objects in the input; lint the output of `helm template` for the goharbor/harbor chart")
	}
	model, err := harbor.Read(in.docs)
	if err != nil {
		return nil, withLocation(in, err)
	}
	if len(model.Workloads) == 0 {
		return nil, errors.New("no goharbor/harbor workloads in the input (Deployments or StatefulSets selected by release, app and component labels); is this the goharbor/harbor chart's output?")
	}
	cms, err := chartConfigMaps(model)
	if err != nil {
		return nil, withLocation(in, err)
	}
	c := &checker{docs: in.docs, model: model, configMaps: cms, redis: redisUses(model), maxConnections: in.maxConnections}
	for _, r := range Rules {
		if r.check == nil {
			continue
		}
		c.rule = r
		r.check(c)
	}
	return &findings{all: c.out, objects: len(in.docs)}, nil
}

// withLocation adds the file and line of the document an error names
// ("document 3 (Deployment/ns/x): ...").
func withLocation(in *stream, err error) error {
	msg := err.Error()
	for _, d := range in.docs {
		if strings.HasPrefix(msg, d.Describe()) {
			if loc := in.where[d]; loc.File != "" {
				return fmt.Errorf("%s: %s", loc, msg)
			}
		}
	}
	return err
}

// finish applies --disable and the lint-ignore annotations, hides
// passwords, orders the findings and counts them.
func (f *findings) finish(in *stream, disable []string, strict bool) *Report {
	off := map[string]bool{}
	for _, id := range disable {
		off[strings.ToUpper(id)] = true
	}
	secrets := secretValues(in.docs)
	r := &Report{Findings: []Finding{}}
	r.Summary.Objects = f.objects
	for _, x := range f.all {
		if off[x.Rule] || ignored(x.doc)[x.Rule] {
			r.Summary.Suppressed++
			continue
		}
		x.Location = in.where[x.doc]
		x.Message = scrub(x.Message, secrets)
		r.Findings = append(r.Findings, x)
		if x.Severity == Error {
			r.Summary.Errors++
		} else {
			r.Summary.Warnings++
		}
	}
	sortFindings(r.Findings, func(d *manifest.Doc) int { return in.order[d] })
	r.Summary.Failed = r.Summary.Errors > 0 || (strict && r.Summary.Warnings > 0)
	return r
}

// secretKey matches the Secret keys that hold credentials (not user
// names, hosts or database names, which messages may legitimately show).
var secretKey = regexp.MustCompile(`(?i)pass|secret|token|key|cred|url|auth|cert`)

// passwordLines finds "password: value" in a config file.
var passwordLines = regexp.MustCompile(`(?m)^\s*password:\s*"?([^"\s]+)"?\s*$`)

// minSecretLen keeps short, common strings ("true", "5432") from being
// taken for secrets.
const minSecretLen = 6

// secretValues are the strings no message may show: every Secret value of
// the stream and every password in a Redis URL or redis: mapping of a
// ConfigMap. Rules never put them in a message on purpose; this also
// catches an API server error that quotes a field back.
func secretValues(docs []*manifest.Doc) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecretLen && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, d := range docs {
		switch id := d.ID(); {
		case id.Group == "" && id.Kind == "Secret":
			for _, field := range []string{"data", "stringData"} {
				m, _ := d.Obj.Object[field].(map[string]any)
				for k, v := range m {
					if s, ok := v.(string); ok && secretKey.MatchString(k) {
						add(s)
						if field == "data" {
							if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
								add(string(dec))
							}
						}
					}
				}
			}
		case id.Group == "" && id.Kind == "ConfigMap":
			m, _ := d.Obj.Object["data"].(map[string]any)
			for _, v := range m {
				s, _ := v.(string)
				for _, u := range harbor.RedisURLsIn(s) {
					add(u.Password)
				}
				for _, m := range passwordLines.FindAllStringSubmatch(s, -1) {
					add(m[1])
				}
			}
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, output.Redacted)
	}
	return msg
}
