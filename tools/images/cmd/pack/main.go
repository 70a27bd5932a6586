// Command pack turns image directories (rootfs/ + config.json, see package
// pack) into image tarballs for `ctr images import`:
//
//	pack DIR...   writes DIR/../<name>.tar and <name>.ref for each DIR
//
// Directories without a config.json are skipped (so that `pack bin/images/*/`
// passes over directories still being built). Up-to-date tarballs are kept.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/harborha/helm-harborha/tools/images/pack"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pack DIR... (image directories: rootfs/ + config.json)")
		os.Exit(2)
	}
	failed := false
	for _, dir := range os.Args[1:] {
		dir = filepath.Clean(dir)
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
			continue
		}
		res, err := pack.Write(dir, filepath.Dir(dir))
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "pack:", err)
			failed = true
		case res.Skipped:
			fmt.Printf("%s: up to date (%s)\n", res.Tarball, res.Ref)
		default:
			fmt.Printf("%s: %s\n", res.Tarball, res.Ref)
		}
	}
	if failed {
		os.Exit(1)
	}
}
