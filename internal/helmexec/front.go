package helmexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/postrender"
)

// FrontDoor is the first argument plugin.yaml gives the small binary
// (harborha-post-render) when Helm runs it as `helm harborha`: it runs
// `template --no-discover` itself, and hands every other command to the
// full harborha binary beside it, whose Helm SDK and client-go cost some
// 15 ms of start-up a render without a cluster does not need.
const FrontDoor = "--helm-plugin"

// FullOnlyFlags are the flags of the full binary's template that the
// front door leaves to it (name → pflag's NoOptDefVal: "" when the flag
// takes a value). Given any of them, or no --no-discover, the full binary
// runs. helmrun's TestFrontDoorFlags holds this list to the full binary's.
var FullOnlyFlags = map[string]string{
	"address": "", "allow-unhealthy": "true", "database": "", "external-url": "",
	"https-node-port": "", "node-port": "", "pg": "", "pg-namespace": "", "redis": "",
	"redis-namespace": "", "redis-sentinel": "true", "sslmode": "", "tls": "true",
}

// FastTemplate runs `template --no-discover` (args as Helm passes them to
// the plugin, the command first) the way the full binary does, and
// reports false when it cannot: another command, help, a flag of
// FullOnlyFlags, or anything the full binary would refuse (it then runs,
// and says why in its own words).
func FastTemplate(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ran bool) {
	r, ok := TemplateRun(ctx, args, stdout, stderr)
	if !ok {
		return 0, false
	}
	code, err := r.Exec(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "harborha template: %s\n", err)
		return 1, true
	}
	return code, true
}

// TemplateRun is the Helm run FastTemplate makes of args, or false.
func TemplateRun(ctx context.Context, args []string, stdout, stderr io.Writer) (*Run, bool) {
	if len(args) == 0 || args[0] != "template" || WantsHelp(args) {
		return nil, false
	}
	fs := pflag.NewFlagSet("template", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var knobs postrender.Flags
	knobs.Add(fs)
	noDiscover := fs.Bool("no-discover", false, "")
	for name, noOpt := range FullOnlyFlags {
		fs.String(name, "", "")
		fs.Lookup(name).NoOptDefVal = noOpt
	}
	mine, helmArgs, err := Split(args[1:], fs)
	if err != nil || fs.Parse(mine) != nil || !*noDiscover || len(Positionals("template", helmArgs)) == 0 {
		return nil, false
	}
	full := false
	fs.Visit(func(f *pflag.Flag) { // the flags given
		if _, ok := FullOnlyFlags[f.Name]; ok {
			full = true
		}
	})
	if full {
		return nil, false
	}
	if _, err := knobs.Resolve(); err != nil {
		return nil, false
	}
	helm := HelmBin()
	major, err := Prepare(ctx, helm, helmArgs, Major)
	if err != nil {
		return nil, false
	}
	self, err := PostRendererCommand()
	if err != nil {
		return nil, false
	}
	return &Run{Helm: helm, Major: major, Action: "template", HelmArgs: helmArgs, PostRender: knobs.Args(),
		Self: self, Stdout: stdout, Stderr: stderr, Progress: stderr}, true
}

// FullBinary is the full harborha binary: beside this executable, or in
// the plugin's bin/ when Helm runs us as a plugin.
func FullBinary() (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, exeName("harborha")), nil
}

// errNoFull names what to do when the full binary is missing.
func errNoFull(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("not found")
	}
	return fmt.Errorf("cannot run %s: %v; reinstall the plugin (helm plugin uninstall harborha, then helm plugin install)", path, err)
}
