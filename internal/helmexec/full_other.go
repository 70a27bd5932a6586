//go:build !unix

package helmexec

import (
	"errors"
	"os"
	"os/exec"
)

// ExecFull runs the full harborha binary with the same arguments,
// environment and stdio, and exits with its status (there is no exec(2)
// here). It returns only on failure to start it. plugin.yaml's Windows
// command is the full binary itself, so this is the front door run by
// hand.
func ExecFull(args []string) error {
	full, err := FullBinary()
	if err != nil {
		return err
	}
	cmd := exec.Command(full, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return errNoFull(full, err)
	}
	os.Exit(0)
	return nil
}
