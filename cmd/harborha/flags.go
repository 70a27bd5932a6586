package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
)

// passThrough is the options of a command that hands the flags it does
// not know to Helm (the wrappers, export): it parses its arguments itself.
type passThrough interface {
	AddFlags(*pflag.FlagSet)
	Complete(args []string) error
	Validate() error
}

// preparePassThrough adds o's flags; on --help it writes help and the
// flags to stdout and reports done, otherwise it completes and validates o.
func preparePassThrough(s *streams, name, help string, o passThrough, args []string) (done bool, err error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	o.AddFlags(fs)
	if helmexec.WantsHelp(args) {
		io.WriteString(s.out, help)
		fs.SetOutput(s.out)
		fs.PrintDefaults()
		return true, nil
	}
	if err := o.Complete(args); err != nil {
		return false, err
	}
	return false, o.Validate()
}

// parseFlags parses a command's flags; --help prints help and the flags
// to stdout and reports done. A command takes exactly positionals
// arguments (Complete checks them); the others take none.
func parseFlags(fs *pflag.FlagSet, s *streams, help string, args []string, positionals bool) (done bool, err error) {
	fs.SetOutput(io.Discard) // errors are returned as one line, not printed by pflag
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			io.WriteString(s.out, help)
			fs.SetOutput(s.out)
			fs.PrintDefaults()
			return true, nil
		}
		return false, fmt.Errorf("%v (see --help)", err)
	}
	if !positionals && fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q: this command takes only flags (see --help)", fs.Arg(0))
	}
	return false, nil
}

// parseClusterCommand parses the flags of a command that talks to the
// cluster: Helm's connection flags, and what add defines.
func parseClusterCommand(s *streams, name, help string, args []string, positionals bool, add func(*pflag.FlagSet)) (*pflag.FlagSet, *kube.Flags, bool, error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	kf := kube.NewFlags()
	kf.AddFlags(fs)
	add(fs)
	done, err := parseFlags(fs, s, help, args, positionals)
	return fs, kf, done, err
}
