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
// Exit status (see cmd/harborha/lint.go): 0 when no finding fails the lint,
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
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	helmpostrender "helm.sh/helm/v3/pkg/postrender"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Options configure one lint run; ParseArgs fills them from flags.
type Options struct {
	Inputs     []string // files, directories, "-" for stdin
	Chart      ChartOptions
	PostRender bool
	Knobs      postrender.Options // the post-renderer's options with --post-render
	Output     output.Format      // text, json or sarif
	Disable    []string
	Strict     bool
	Validate   bool
	ListRules  bool
	Color      bool   // colour the text output (the command sets it for a terminal)
	Version    string // the binary's version, for JSON and SARIF
	Kube       *kube.Flags
}

// Streams are where a run reads and writes. Err gets the post-renderer's
// warnings; Out gets the report, written at once at the end.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Run lints and writes the report to s.Out. failed says whether the
// findings fail the lint (exit 1); an error means the lint could not run
// (exit 2), and then nothing was written to s.Out.
func Run(ctx context.Context, o *Options, s Streams) (failed bool, err error) {
	if o.Kube == nil {
		o.Kube = kube.NewFlags() // Helm's environment, as ParseArgs sets it
	}
	if err := o.check(); err != nil {
		return false, err
	}
	var out bytes.Buffer
	if o.ListRules {
		if err := writeRules(&out, o.Output); err != nil {
			return false, err
		}
		_, err := s.Out.Write(out.Bytes())
		return false, err
	}
	in, err := o.load(ctx, s)
	if err != nil {
		return false, err
	}
	report, err := lintStream(in)
	if err != nil {
		return false, err
	}
	if o.Validate {
		c, err := kube.Connect(o.Kube.Settings(), kube.Options{})
		if err != nil {
			return false, fmt.Errorf("--validate: %v", err)
		}
		more, err := validate(ctx, c, in.docs)
		if err != nil {
			return false, err
		}
		report.all = append(report.all, more...)
	}
	r := report.finish(in, o.Disable, o.Strict)
	if o.Output == output.SARIF {
		err = writeSARIF(&out, r, o.Version)
	} else {
		err = o.Output.Write(&out, &reportDoc{Tool: jsonTool{Name: ToolName, Version: o.Version}, Report: r, color: o.Color})
	}
	if err != nil {
		return false, err
	}
	if _, err := s.Out.Write(out.Bytes()); err != nil {
		return false, err
	}
	return r.Summary.Failed, nil
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
func (o *Options) load(ctx context.Context, s Streams) (*stream, error) {
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
	c := &checker{docs: in.docs, model: model, configMaps: cms, redis: redisUses(model)}
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
