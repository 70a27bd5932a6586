package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/lint"
)

func init() {
	register(command{
		name:    "lint",
		summary: "check a rendered Harbor release (or a chart) for what keeps it from being highly available",
		run:     runLint,
	})
}

// Exit statuses of lint: findings that fail the lint, and a lint that
// could not run (bad flags or input, a chart that does not render, an
// unreachable API server), so CI can tell "not HA" from "not checked".
const (
	lintFailed = 1
	lintBroken = 2
)

func runLint(ctx context.Context, s *streams, args []string) error {
	o, err := lint.ParseArgs(args)
	if errors.Is(err, pflag.ErrHelp) {
		lint.Usage(s.out)
		return nil
	}
	if err != nil {
		return &exitError{code: lintBroken, err: err}
	}
	o.Version = version
	o.Color = colorTerminal(s.out)
	failed, err := lint.Run(ctx, o, lint.Streams{In: s.in, Out: s.out, Err: s.err})
	if err != nil {
		return &exitError{code: lintBroken, err: err}
	}
	if failed {
		return &exitError{code: lintFailed} // the report says why
	}
	return nil
}

// colorTerminal reports whether w is a terminal that may get colour: a
// character device, and NO_COLOR (https://no-color.org) unset.
func colorTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
