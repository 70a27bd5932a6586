// Package command is the one shape of every harborha command, after
// kubectl's and Helm's pkg/action: AddFlags binds the flags, Complete takes
// the arguments the flags left, Validate refuses what cannot mean anything
// before anything is asked of the cluster or Helm, and Run does the work on
// the process's Streams. Execute drives the four for the binaries and the
// tests alike, so that help, flag errors and exit statuses are the same for
// every command.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Streams are the standard streams a command runs on. A command that
// produces a document writes it to Out only once it is complete, so that
// a failure never leaves half-written output; progress and warnings go to
// Err.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Command is one harborha command.
type Command interface {
	AddFlags(fs *pflag.FlagSet)
	Complete(args []string) error
	Validate() error
	Run(ctx context.Context, s Streams) error
}

// PassThrough is a command that hands the flags it does not know to Helm
// (the wrappers, export): Complete gets the arguments unparsed and tells
// its own flags from Helm's.
type PassThrough interface {
	Command
	PassesThrough()
}

// ExitError is an error with the exit status it calls for (lint's and
// doctor's findings, Helm's own status). Err may be nil: the command has
// already said why.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Execute runs c on args: it binds the flags, prints help (the text, then
// the flags) to s.Out on -h/--help, parses, completes, validates and runs.
// A flag error names --help.
func Execute(ctx context.Context, c Command, help string, args []string, s Streams) error {
	fs := pflag.NewFlagSet("harborha", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned as one line, not printed by pflag
	c.AddFlags(fs)
	rest, done, err := parse(fs, c, args)
	if done || err != nil {
		if done {
			io.WriteString(s.Out, help)
			fs.SetOutput(s.Out)
			fs.PrintDefaults()
		}
		return err
	}
	if err := c.Complete(rest); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return c.Run(ctx, s)
}

// parse parses the flags, unless c reads its own arguments; done reports
// a request for help.
func parse(fs *pflag.FlagSet, c Command, args []string) (rest []string, done bool, err error) {
	if _, ok := c.(PassThrough); ok {
		return args, WantsHelp(args), nil
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%v (see --help)", err)
	}
	return fs.Args(), false, nil
}

// WantsHelp reports whether the arguments ask for help before "--" (after
// it, -h is Helm's).
func WantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help":
			return true
		}
	}
	return false
}

// NoArgs refuses positional arguments for a command that takes only flags.
func NoArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: this command takes only flags (see --help)", args[0])
	}
	return nil
}

// OneArg is the one positional argument a command takes (a release), or
// the usage error.
func OneArg(args []string, usage string) (string, error) {
	if len(args) != 1 {
		return "", errors.New(usage)
	}
	return args[0], nil
}
