package helmexec

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Release is what harborha reads of Helm's arguments to install, upgrade
// or template, read once for the wrappers, their preflight, export and the
// front door. Args are kept as given: Helm gets them untouched.
type Release struct {
	Action string
	Args   []string
	// Name is "" when Helm is to name the release (--generate-name).
	Name  string
	Chart string
	// Positionals are every argument that is neither a flag nor a flag's
	// value: the release and the chart, or more that Helm will refuse.
	Positionals []string

	// Helm's connection flags; "" where Helm's environment decides.
	Namespace, KubeContext, KubeConfig string

	Version, Repo string
	Devel         bool
	// DryRun: Helm is asked not to change the cluster, so neither may we.
	DryRun bool
	Values ValueFlags

	// The flags that change what `helm template` prints, which an export
	// writes into its kustomization or HelmRelease.
	KubeVersion                     string
	APIVersions                     []string
	IncludeCRDs, SkipTests, NoHooks bool

	// Flags are the flags given, by the name they were given ("--wait",
	// "-n"), in order.
	Flags []string
}

// ValueFlags are Helm's value flags, as Helm defines them: -f splits on
// commas, the --set family does not.
type ValueFlags struct {
	Files, Set, SetString, SetFile, SetJSON, SetLiteral []string
}

// shorthands are the one-letter forms of Helm's flags that harborha reads.
var shorthands = map[string]string{"-n": "namespace", "-f": "values", "-a": "api-versions"}

// ParseArgs reads a wrapper's arguments once: ours (the flags defined in
// ours, Split tells them apart) are parsed into ours, and the rest are
// Helm's, read as ParseRelease reads them.
func ParseArgs(action string, args []string, ours *pflag.FlagSet) (*Release, error) {
	mine, helmArgs, err := Split(args, ours)
	if err != nil {
		return nil, err
	}
	ours.SetOutput(io.Discard)
	if err := ours.Parse(mine); err != nil {
		return nil, fmt.Errorf("%v (see --help)", err)
	}
	return ParseRelease(action, helmArgs)
}

// ParseRelease reads Helm's arguments for action. Every token that is
// neither a flag nor the value of one (valueFlags tells them apart) is a
// positional: the release and the chart; "--" ends the flags.
func ParseRelease(action string, helmArgs []string) (*Release, error) {
	r := &Release{Action: action, Args: helmArgs}
	fs := r.flagSet()
	for i := 0; i < len(helmArgs); i++ {
		a := helmArgs[i]
		switch {
		case a == "--":
			r.Positionals = append(r.Positionals, helmArgs[i+1:]...)
			i = len(helmArgs)
			continue
		case !strings.HasPrefix(a, "-") || a == "-":
			r.Positionals = append(r.Positionals, a)
			continue
		}
		name, value, hasValue := splitFlag(a)
		if !hasValue && takesValue(action, name) && i+1 < len(helmArgs) {
			i++
			value, hasValue = helmArgs[i], true
		}
		r.Flags = append(r.Flags, name)
		if err := r.set(fs, name, value, hasValue); err != nil {
			return nil, err
		}
	}
	if n := len(r.Positionals); n > 0 {
		r.Chart = r.Positionals[n-1]
		if n >= 2 {
			r.Name = r.Positionals[0]
		}
	}
	return r, nil
}

// splitFlag is a flag token's name and its value when attached:
// --name=value, -n=value or -nvalue (for a one-letter flag that takes one).
func splitFlag(a string) (name, value string, hasValue bool) {
	if strings.HasPrefix(a, "--") {
		return strings.Cut(a, "=")
	}
	name, rest := a[:2], a[2:]
	if rest == "" {
		return name, "", false
	}
	if v, ok := strings.CutPrefix(rest, "="); ok {
		return name, v, true
	}
	if valueFlags[name] {
		return name, rest, true
	}
	return a, "", false // several one-letter booleans at once
}

// flagSet binds the flags harborha reads to r, as Helm defines them.
func (r *Release) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet(r.Action, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&r.Namespace, "namespace", "", "")
	fs.StringVar(&r.KubeContext, "kube-context", "", "")
	fs.StringVar(&r.KubeConfig, "kubeconfig", "", "")
	fs.StringVar(&r.Version, "version", "", "")
	fs.StringVar(&r.Repo, "repo", "", "")
	fs.BoolVar(&r.Devel, "devel", false, "")
	fs.StringSliceVar(&r.Values.Files, "values", nil, "")
	fs.StringArrayVar(&r.Values.Set, "set", nil, "")
	fs.StringArrayVar(&r.Values.SetString, "set-string", nil, "")
	fs.StringArrayVar(&r.Values.SetFile, "set-file", nil, "")
	fs.StringArrayVar(&r.Values.SetJSON, "set-json", nil, "")
	fs.StringArrayVar(&r.Values.SetLiteral, "set-literal", nil, "")
	fs.StringVar(&r.KubeVersion, "kube-version", "", "")
	fs.StringSliceVar(&r.APIVersions, "api-versions", nil, "")
	fs.BoolVar(&r.IncludeCRDs, "include-crds", false, "")
	fs.BoolVar(&r.SkipTests, "skip-tests", false, "")
	fs.BoolVar(&r.NoHooks, "no-hooks", false, "")
	return fs
}

// set records one flag; a flag harborha does not read is only named in
// Flags.
func (r *Release) set(fs *pflag.FlagSet, name, value string, hasValue bool) error {
	long := strings.TrimPrefix(name, "--")
	if s, ok := shorthands[name]; ok {
		long = s
	}
	if long == "dry-run" { // an optional value: --dry-run, --dry-run=server
		r.DryRun = !hasValue || (value != "none" && value != "false")
		return nil
	}
	f := fs.Lookup(long)
	if f == nil {
		return nil
	}
	if !hasValue {
		if f.Value.Type() != "bool" {
			return fmt.Errorf("flag %s needs a value", name)
		}
		value = "true"
	}
	if err := fs.Set(long, value); err != nil {
		return fmt.Errorf("invalid argument %q for %q flag: %v", value, name, err)
	}
	return nil
}
