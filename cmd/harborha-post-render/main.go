// Command harborha-post-render is `harborha post-render` alone: the
// post-renderer Helm runs on every render (Helm 3's --post-renderer, the
// Helm 4 post-renderer plugin). It links only the post-render stage and
// the Helm run (helmexec), not Helm's SDK or client-go, so that it starts
// in a few milliseconds. That also makes it the plugin's front door
// (helmexec.FrontDoor): `helm harborha template --no-discover` runs here,
// every other command in the full harborha binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// version is set at build time from plugin.yaml (scripts/build.sh), like
// harborha's: the install hook checks that both binaries are its version.
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("harborha-post-render", version)
		return
	}
	s := command.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	if len(os.Args) > 1 && os.Args[1] == helmexec.FrontDoor {
		frontDoor(os.Args[2:], s)
	}
	err := command.Execute(context.Background(), &postrender.Options{}, postrender.Help, os.Args[1:], s)
	postrender.ReportError(err)
	if err != nil {
		fmt.Fprintf(os.Stderr, "harborha post-render: %s\n", output.OneLine(err.Error()))
		os.Exit(1)
	}
}

// frontDoor runs `helm harborha ARGS`: template --no-discover here, the
// rest in the full binary. It does not return.
func frontDoor(args []string, s command.Streams) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, ran := helmexec.FastTemplate(ctx, args, s)
	stop()
	if ran {
		os.Exit(code)
	}
	err := helmexec.ExecFull(args)
	fmt.Fprintf(os.Stderr, "harborha: %s\n", output.OneLine(err.Error()))
	os.Exit(1)
}
