package export

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
)

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

// expressible are the flags that change what `helm template` renders
// and that kustomize's helmCharts and Flux's HelmRelease can both carry.
var expressible = []string{"namespace", "-n", "version", "repo", "devel", "values", "-f", "set", "set-string", "set-file",
	"set-json", "set-literal", "kube-version", "api-versions", "-a", "include-crds", "skip-tests", "no-hooks"}

// parseRelease reads Helm's arguments of `helm harborha export`: only
// flags the export can write (or that change nothing it writes), and
// exactly RELEASE and CHART. The namespace is Helm's environment's
// (HELM_NAMESPACE, as Helm passes -n to a plugin) unless -n says.
func parseRelease(args []string, ours *pflag.FlagSet) (*helmexec.Release, error) {
	r, err := helmexec.ParseArgs("template", args, ours)
	if err != nil {
		return nil, addSeeHelp(err)
	}
	for _, name := range r.Flags {
		long := strings.TrimPrefix(name, "--")
		switch {
		case slices.Contains(credentialFlags, long):
			return nil, fmt.Errorf("--%s: kustomize runs helm with an empty configuration and an export holds no credential, so neither can pull this chart; pull it yourself (helm pull --untar) and export the chart directory", long)
		case !slices.Contains(expressible, long) && !slices.Contains(neutralBool, long) && !slices.Contains(neutralString, long) && long != "kube-as-group" && long != "dry-run":
			return nil, unsupportedFlag(name)
		}
	}
	if len(r.Positionals) != 2 {
		return nil, errors.New("export needs RELEASE and CHART: helm harborha export RELEASE CHART --format kustomize|flux --output-dir DIR [flags]")
	}
	if r.Namespace == "" {
		r.Namespace = kube.NewFlags().Settings().Namespace()
	}
	return r, nil
}

// addSeeHelp ends an error with "(see --help)" once.
func addSeeHelp(err error) error {
	if strings.HasSuffix(err.Error(), "(see --help)") {
		return err
	}
	return fmt.Errorf("%v (see --help)", err)
}

// unsupportedFlag names the Helm flag the export cannot carry.
func unsupportedFlag(name string) error {
	return fmt.Errorf("%s: neither kustomize's helmCharts nor Flux's HelmRelease can express this helm flag; drop it, or use helm harborha template", name)
}

// templateArgs are the arguments of `helm template` that render the
// release from chart (a local path) the way kustomize will: the same
// flags, in the order kustomize's generator passes them.
func templateArgs(r *helmexec.Release, chart string, valueFiles []string) []string {
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
