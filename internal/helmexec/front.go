package helmexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
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

// errFull: the full binary runs these arguments.
var errFull = errors.New("the full harborha binary runs this")

// FastTemplate runs `template --no-discover` (args as Helm passes them to
// the plugin, the command first) the way the full binary does, and
// reports false when it cannot: another command, help, a flag of
// FullOnlyFlags, or anything the full binary would refuse (it then runs,
// and says why in its own words). A failure is one line on s.Err.
func FastTemplate(ctx context.Context, args []string, s command.Streams) (code int, ran bool) {
	if len(args) == 0 || args[0] != "template" || command.WantsHelp(args) {
		return 0, false
	}
	err := command.Execute(ctx, &FrontTemplate{}, "", args[1:], s)
	var exit *command.ExitError
	switch {
	case errors.Is(err, errFull):
		return 0, false
	case errors.As(err, &exit):
		return exit.Code, true
	case err != nil:
		fmt.Fprintf(s.Err, "harborha template: %s\n", err)
		return 1, true
	}
	return 0, true
}

// TemplateRun is the Helm run FastTemplate makes of args, or false.
func TemplateRun(ctx context.Context, args []string, stdout, stderr io.Writer) (*Run, bool) {
	if len(args) == 0 || args[0] != "template" || command.WantsHelp(args) {
		return nil, false
	}
	t := &FrontTemplate{}
	t.AddFlags(pflag.NewFlagSet("template", pflag.ContinueOnError))
	if t.Complete(args[1:]) != nil || t.Validate() != nil || t.prepare(ctx, stdout, stderr) != nil {
		return nil, false
	}
	return t.helm, true
}

// FrontTemplate is `template --no-discover` as the front door runs it, in
// the shape of every command; any argument it does not take is errFull.
type FrontTemplate struct {
	knobs      postrender.Flags
	noDiscover bool
	flags      *pflag.FlagSet
	release    *Release
	helm       *Run
}

// PassesThrough marks a command whose arguments are Helm's too.
func (t *FrontTemplate) PassesThrough() {}

// AddFlags defines the knobs and --no-discover, and the full binary's
// other flags (FullOnlyFlags), only to tell them from Helm's.
func (t *FrontTemplate) AddFlags(fs *pflag.FlagSet) {
	t.flags = fs
	t.knobs.Add(fs)
	fs.BoolVar(&t.noDiscover, "no-discover", false, "")
	for name, noOpt := range FullOnlyFlags {
		fs.String(name, "", "")
		fs.Lookup(name).NoOptDefVal = noOpt
	}
}

// Complete splits and reads the arguments as the full binary does.
func (t *FrontTemplate) Complete(args []string) error {
	var err error
	if t.release, err = ParseArgs("template", args, t.flags); err != nil || !t.noDiscover || t.release.Chart == "" {
		return errFull
	}
	full := false
	t.flags.Visit(func(f *pflag.Flag) { // the flags given
		_, isFull := FullOnlyFlags[f.Name]
		full = full || isFull
	})
	if full {
		return errFull
	}
	return nil
}

// Validate resolves the knobs; a bad one is the full binary's to refuse.
func (t *FrontTemplate) Validate() error {
	if _, err := t.knobs.Resolve(); err != nil {
		return errFull
	}
	return nil
}

// Run runs Helm; its failure is a command.ExitError of Helm's status.
func (t *FrontTemplate) Run(ctx context.Context, s command.Streams) error {
	if err := t.prepare(ctx, s.Out, s.Err); err != nil {
		return err
	}
	code, err := t.helm.Exec(ctx)
	if err == nil && code != 0 {
		err = &command.ExitError{Code: code}
	}
	return err
}

// prepare makes the Helm run, as the full binary's template would.
func (t *FrontTemplate) prepare(ctx context.Context, stdout, stderr io.Writer) error {
	helm := HelmBin()
	major, err := Prepare(ctx, helm, t.release, Major)
	if err != nil {
		return errFull
	}
	self, err := PostRendererCommand()
	if err != nil {
		return errFull
	}
	t.helm = &Run{Helm: helm, Major: major, Action: "template", HelmArgs: t.release.Args, PostRender: t.knobs.Args(),
		Self: self, Stdout: stdout, Stderr: stderr, Progress: stderr}
	return nil
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
