package export

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli/values"

	"github.com/harborha/helm-harborha/internal/helmrun"
	"github.com/harborha/helm-harborha/internal/kube"
)

// release is what the export knows of the Helm release from Helm's
// arguments: the chart, the values, and the flags that change what
// `helm template` renders, each of which kustomize's helmCharts and Flux's
// HelmRelease can express.
type release struct {
	Name, Namespace string
	Chart           string // as given: a path, repo/name, a name with --repo, or oci://
	Version, Repo   string
	Devel           bool
	Values          values.Options
	KubeVersion     string
	APIVersions     []string
	IncludeCRDs     bool
	SkipTests       bool
	NoHooks         bool
}

// neutralBool and neutralString change nothing in what `helm template` prints (connection,
// output and install-time flags); the export accepts and ignores them.
var neutralBool = []string{"debug", "kube-insecure-skip-tls-verify", "create-namespace", "wait", "wait-for-jobs",
	"atomic", "disable-openapi-validation", "replace", "render-subchart-notes", "hide-notes"}
var neutralString = []string{"kube-context", "kubeconfig", "kube-apiserver", "kube-as-user", "kube-token", "kube-ca-file", "kube-tls-server-name",
	"registry-config", "repository-config", "repository-cache", "timeout", "description", "burst-limit", "qps"}

// credentialFlags pull a chart with credentials or TLS settings, which
// neither kustomize (it runs helm with an empty configuration) nor an
// exported file can carry without writing a secret.
var credentialFlags = []string{"username", "password", "ca-file", "cert-file", "key-file", "insecure-skip-tls-verify",
	"pass-credentials", "plain-http", "keyring", "verify"}

// parseRelease reads Helm's arguments of `helm harborha export`.
func parseRelease(helmArgs []string) (*release, error) {
	r := &release{}
	fs := pflag.NewFlagSet("helm", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVarP(&r.Namespace, "namespace", "n", "", "")
	fs.StringVar(&r.Version, "version", "", "")
	fs.StringVar(&r.Repo, "repo", "", "")
	fs.BoolVar(&r.Devel, "devel", false, "")
	helmrun.ValueFlags(fs, &r.Values)
	fs.StringVar(&r.KubeVersion, "kube-version", "", "")
	fs.StringSliceVarP(&r.APIVersions, "api-versions", "a", nil, "")
	fs.BoolVar(&r.IncludeCRDs, "include-crds", false, "")
	fs.BoolVar(&r.SkipTests, "skip-tests", false, "")
	fs.BoolVar(&r.NoHooks, "no-hooks", false, "")
	for _, n := range neutralBool {
		fs.Bool(n, false, "")
	}
	for _, n := range neutralString {
		fs.String(n, "", "")
	}
	fs.StringArray("kube-as-group", nil, "")
	fs.String("dry-run", "", "")
	fs.Lookup("dry-run").NoOptDefVal = "unchanged" // as Helm defines it
	for _, n := range credentialFlags {
		fs.String(n, "", "")
		fs.Lookup(n).NoOptDefVal = "true" // booleans among them take no value
	}
	if err := fs.Parse(helmArgs); err != nil {
		return nil, unsupportedFlag(err)
	}
	for _, n := range credentialFlags {
		if fs.Changed(n) {
			return nil, fmt.Errorf("--%s: kustomize runs helm with an empty configuration and an export holds no credential, so neither can pull this chart; pull it yourself (helm pull --untar) and export the chart directory", n)
		}
	}
	pos := fs.Args()
	if len(pos) != 2 {
		return nil, errors.New("export needs RELEASE and CHART: helm harborha export RELEASE CHART --format kustomize|flux --output-dir DIR [flags]")
	}
	r.Name, r.Chart = pos[0], pos[1]
	if r.Namespace == "" {
		r.Namespace = kube.NewFlags().Settings().Namespace() // HELM_NAMESPACE, as Helm passes -n to a plugin
	}
	return r, nil
}

// unsupportedFlag names the Helm flag the export cannot carry.
func unsupportedFlag(err error) error {
	for _, prefix := range []string{"unknown flag: ", "unknown shorthand flag: "} {
		if name, ok := strings.CutPrefix(err.Error(), prefix); ok {
			return fmt.Errorf("%s: neither kustomize's helmCharts nor Flux's HelmRelease can express this helm flag; drop it, or use helm harborha template", name)
		}
	}
	return fmt.Errorf("%v (see --help)", err)
}

// templateArgs are the arguments of `helm template` that render the
// release from chart (a local path) the way kustomize will: the same
// flags, in the order kustomize's generator passes them.
func (r *release) templateArgs(chart string, valueFiles []string) []string {
	args := []string{"template", r.Name, chart, "--namespace", r.Namespace}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, v := range r.APIVersions {
		args = append(args, "--api-versions", v)
	}
	if r.KubeVersion != "" {
		args = append(args, "--kube-version", r.KubeVersion)
	}
	if r.IncludeCRDs {
		args = append(args, "--include-crds")
	}
	if r.SkipTests {
		args = append(args, "--skip-tests")
	}
	if r.NoHooks {
		args = append(args, "--no-hooks")
	}
	return args
}
