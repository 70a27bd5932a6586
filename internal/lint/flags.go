package lint

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Help is the text --help prints before the flags.
const Help = `Usage:
  helm harborha lint [flags] FILE|DIR|- ...
  helm harborha lint [flags] --chart CHART [-f values.yaml]... [--set k=v]... [--post-render [knobs]]

Checks a rendered goharbor/harbor release for what keeps it from being
highly available, and fails CI when it is not.

  helm template harbor harbor/harbor -f values.yaml | helm harborha lint -
  helm harborha lint rendered/                       # every *.yaml and *.yml below it
  helm harborha lint --chart harbor/harbor -f values.yaml --post-render --replicas 3
  helm harborha lint --list-rules

Exit status: 0 no failing finding; 1 an error finding remains (or a
warning, with --strict); 2 the lint could not run (bad flags or input, a
chart that does not render, --validate cannot reach the API server).

Silence a rule with --disable HA004,HA012, or on one object with the
annotation harborha.io/lint-ignore: HA004 (on a Deployment or StatefulSet it
may also sit on the pod template, where <component>.podAnnotations puts it).

Flags:
`

// AddFlags defines every lint flag on fs, and the post-render knobs, in
// the order of the help.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	output.AddFlag(fs, &o.Output, "SARIF 2.1.0 is for code-scanning", output.Text, output.JSON, output.SARIF)
	fs.StringSliceVar(&o.Disable, "disable", nil, "rule ids to silence, comma-separated (HA004,HA012)")
	fs.BoolVar(&o.Strict, "strict", false, "fail on warnings too")
	fs.BoolVar(&o.ListRules, "list-rules", false, "print the rules (with -o text or json) and exit")
	fs.BoolVar(&o.ServerDryRun, "validate", false, "also send every object to the API server as a server-side dry run (fieldValidation=Strict) and report rejections")

	fs.StringVar(&o.Chart.Chart, "chart", "", "render this chart in-process (path, repo/name or oci:// reference) instead of reading manifests")
	fs.StringSliceVarP(&o.Chart.Values.ValueFiles, "values", "f", nil, "with --chart: values file (can repeat)")
	fs.StringArrayVar(&o.Chart.Values.Values, "set", nil, "with --chart: set a value (key=value, can repeat)")
	fs.StringArrayVar(&o.Chart.Values.StringValues, "set-string", nil, "with --chart: set a string value (can repeat)")
	fs.StringArrayVar(&o.Chart.Values.FileValues, "set-file", nil, "with --chart: set a value from a file (key=path, can repeat)")
	fs.StringVar(&o.Chart.Version, "version", "", "with --chart: chart version constraint (repository charts)")
	fs.StringVar(&o.Chart.Release, "release", DefaultRelease, "with --chart: release name")
	fs.StringVar(&o.Chart.KubeVersion, "kube-version", DefaultKubeVersion, "with --chart: Kubernetes version for .Capabilities")
	o.Kube = kube.NewFlags()
	o.Kube.AddFlags(fs)

	fs.BoolVar(&o.PostRender, "post-render", false, "post-render the release with harborha's post-renderer (and the knobs below) before linting")
	o.knobs = &postrender.Flags{ConfigFlag: "post-render-config", UsagePrefix: "with --post-render: "}
	o.knobs.Add(fs)
}

// Complete takes the inputs: files, directories, "-" for stdin.
func (o *Options) Complete(args []string) error {
	o.Inputs = args
	return nil
}

// Validate refuses option combinations that cannot mean anything, and
// resolves the knobs (once) with --post-render.
func (o *Options) Validate() error {
	if given := o.knobs.Given(); !o.PostRender && len(given) > 0 {
		if given[0] == o.knobs.ConfigFlag {
			return fmt.Errorf("--%s needs --post-render", o.knobs.ConfigFlag)
		}
		return fmt.Errorf("--%s is a post-render knob: add --post-render to lint the post-rendered release", given[0])
	}
	if o.PostRender {
		var err error
		if o.Knobs, err = o.knobs.Resolve(); err != nil {
			return err
		}
	}
	return o.check()
}

// chartFlagsWithoutChart names a --chart-only flag given without --chart.
func (o *Options) chartFlagsWithoutChart() string {
	v := o.Chart.Values
	switch {
	case o.Chart.Chart != "":
		return ""
	case len(v.ValueFiles) > 0:
		return "-f/--values"
	case len(v.Values) > 0:
		return "--set"
	case len(v.StringValues) > 0:
		return "--set-string"
	case len(v.FileValues) > 0:
		return "--set-file"
	case o.Chart.Version != "":
		return "--version"
	}
	return ""
}
