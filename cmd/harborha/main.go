// Command harborha is the helm-harborha plugin: it discovers KubeBlocks
// PostgreSQL and Redis clusters, writes the goharbor chart's values overlay,
// post-renders the chart into a highly-available topology and lints it.
//
// The command layer is thin: each subcommand's file registers its help and
// its command (internal/command's shape, which command.Execute drives);
// run maps what the command returns to one line on stderr and an exit
// status.
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

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/output"
)

// entry is one subcommand: its help, and its command, made anew per run.
type entry struct {
	name    string
	summary string
	help    string
	new     func() command.Command
	// failure is the exit status of an error that carries none: 1, but 2
	// for lint and doctor, whose 1 means findings.
	failure int
	// report also hands the error to the command (post-render writes it
	// where Helm 4 can show it).
	report func(error)
}

var commands = map[string]entry{}

// register is called from each subcommand file's init.
func register(e entry) {
	if e.failure == 0 {
		e.failure = 1
	}
	commands[e.name] = e
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, command.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and turns its error into one line on
// stderr and an exit status.
func run(ctx context.Context, s command.Streams, args []string) int {
	// Helm 3 post-renders through "$HELM_BIN harborha post-render ...", Helm 4
	// through the post-renderer plugin with the same argument list; accept and
	// skip a leading "harborha" so one postRendererArgs list serves both.
	if len(args) > 0 && args[0] == "harborha" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(s.Out)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(s.Out, "harborha", version)
		return 0
	}
	e, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(s.Err, "harborha: unknown command %q; run 'harborha help' for the list\n", args[0])
		return 2
	}
	err := command.Execute(ctx, e.new(), e.help, args[1:], s)
	if e.report != nil {
		e.report(err)
	}
	return exitStatus(s, e, err)
}

// exitStatus writes err as one line and returns the status it calls for.
func exitStatus(s command.Streams, e entry, err error) int {
	if err == nil {
		return 0
	}
	code := e.failure
	var ee *command.ExitError
	if errors.As(err, &ee) {
		code, err = ee.Code, ee.Err
	}
	if err != nil {
		fmt.Fprintf(s.Err, "harborha %s: %s\n", e.name, output.OneLine(err.Error()))
	}
	return code
}

// version is set at build time from plugin.yaml (scripts/build.sh).
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
