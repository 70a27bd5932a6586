// Command harborha is the helm-harborha plugin: it discovers KubeBlocks
// PostgreSQL and Redis clusters, writes the goharbor chart's values overlay,
// post-renders the chart into a highly-available topology and lints it.
//
// The command layer is thin: each subcommand lives in its own file, parses
// its flags with pflag and calls one internal package.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/harborha/helm-harborha/internal/output"
)

// command is one subcommand. run returns an error for the user; an
// *exitError carries a specific exit status (lint findings, helm's status).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, s *streams, args []string) error
}

// streams are the process's standard streams. Commands that produce a
// document write it to stdout only once it is complete, so that a failure
// never leaves half-written output.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

type exitError struct {
	code int
	err  error // may be nil: the command already reported what it had to
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

var commands = map[string]command{}

// register is called from each subcommand file's init.
func register(c command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and turns its error into one line on
// stderr and an exit status.
func run(ctx context.Context, s *streams, args []string) int {
	// Helm 3 post-renders through "$HELM_BIN harborha post-render ...", Helm 4
	// through the post-renderer plugin with the same argument list; accept and
	// skip a leading "harborha" so one postRendererArgs list serves both.
	if len(args) > 0 && args[0] == "harborha" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(s.out)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(s.out, "harborha", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(s.err, "harborha: unknown command %q; run 'harborha help' for the list\n", args[0])
		return 2
	}
	err := c.run(ctx, s, args[1:])
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(s.err, "harborha %s: %s\n", c.name, output.OneLine(ee.err.Error()))
		}
		return ee.code
	}
	fmt.Fprintf(s.err, "harborha %s: %s\n", c.name, output.OneLine(err.Error()))
	return 1
}

// version is set at build time from plugin.yaml (see Makefile).
var version = "dev"

func usage(w io.Writer) {
	var b bytes.Buffer
	b.WriteString("harborha: a highly-available Harbor on KubeBlocks PostgreSQL and Redis\n\nUsage: helm harborha COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun 'helm harborha COMMAND --help' for a command's flags.\n")
	w.Write(b.Bytes())
}
