// Package helmexec runs the user's own Helm (3 or 4) for `helm harborha
// install|upgrade|template`: our values overlay first among the values files,
// our post-renderer attached the way that Helm major wants it, every other
// flag passed through untouched, and Helm's exit status returned.
//
// It also reads Helm's arguments, once, for every caller (ParseRelease).
// It links neither Helm's SDK nor client-go: the small binary
// (harborha-post-render) runs it as the plugin's front door (front.go),
// and helmrun's Options, which discover and bootstrap first, end in it.
package helmexec

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// Split separates the wrapper's own flags from Helm's. The rule, as the
// README documents it: a flag defined in ours (--name, --name=value, or
// --name value when it takes a value) is ours; everything else, in order,
// is Helm's; "--" ends our flags, and everything after it is Helm's.
// Our flags have no one-letter forms, so none can shadow Helm's -f, -n, ...
func Split(args []string, ours *pflag.FlagSet) (mine, helm []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return mine, append(helm, args[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			helm = append(helm, a)
			continue
		}
		name, _, hasValue := strings.Cut(a[2:], "=")
		f := ours.Lookup(name)
		if f == nil {
			helm = append(helm, a)
			continue
		}
		mine = append(mine, a)
		if hasValue || f.NoOptDefVal != "" { // --x=v, or a flag that needs no value (bool)
			continue
		}
		if i+1 == len(args) {
			return nil, nil, fmt.Errorf("flag --%s needs a value", name)
		}
		i++
		mine = append(mine, args[i])
	}
	return mine, helm, nil
}

// valueFlags are the flags of helm install, upgrade and template (Helm 3.22
// and 4.3) that take a value, long and short forms, so that Positionals can
// tell a flag's value from the release and chart arguments. A test checks
// this list against the real binaries' --help.
var valueFlags = map[string]bool{
	"--ca-file": true, "--cert-file": true, "--description": true, "--key-file": true, "--keyring": true,
	"--name-template": true, "--output": true, "-o": true, "--password": true, "--post-renderer": true,
	"--post-renderer-args": true, "--repo": true, "--set": true, "--set-file": true, "--set-json": true,
	"--set-literal": true, "--set-string": true, "--timeout": true, "--username": true, "--values": true,
	"-f": true, "--version": true, "--history-max": true, "--api-versions": true, "-a": true,
	"--kube-version": true, "--output-dir": true, "--show-only": true, "-s": true, "--dry-run": false,
	"--registry-config": true, "--repository-cache": true, "--repository-config": true, "--kubeconfig": true,
	"--kube-context": true, "--namespace": true, "-n": true, "--burst-limit": true, "--qps": true,
	"--kube-apiserver": true, "--kube-as-group": true, "--kube-as-user": true, "--kube-ca-file": true,
	"--kube-token": true, "--kube-tls-server-name": true, "--max-history": true, "--wait": false,
	"--color": true, "--colour": true, "--content-cache": true, "--server-side": false, "--field-manager": true,
	"--rollback-on-failure": false, "--labels": true, "-l": true,
}

// actionValueFlags are per-action differences: Helm 4's upgrade takes
// --server-side=true|false|auto, where install and template have a bool.
var actionValueFlags = map[string]map[string]bool{
	"upgrade": {"--server-side": true},
}

func takesValue(action, flag string) bool {
	if v, ok := actionValueFlags[action][flag]; ok {
		return v
	}
	return valueFlags[flag]
}
