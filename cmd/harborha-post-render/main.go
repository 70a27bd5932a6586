// Command harborha-post-render is `harborha post-render` alone: the
// post-renderer Helm runs on every render (Helm 3's --post-renderer, the
// Helm 4 post-renderer plugin). It links only the post-render stage, not
// Helm's SDK or client-go, so that it starts in a few milliseconds.
package main

import (
	"fmt"
	"os"

	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// version is set at build time from plugin.yaml (see Makefile), like
// harborha's: the install hook checks that both binaries are its version.
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("harborha-post-render", version)
		return
	}
	if err := postrender.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "harborha post-render: %s\n", output.OneLine(err.Error()))
		os.Exit(1)
	}
}
