//go:build unix

package helmexec

import (
	"os"
	"syscall"
)

// ExecFull replaces this process with the full harborha binary, with the
// same arguments and environment: stdio, signals and the exit status are
// then the full binary's own. It returns only on failure.
func ExecFull(args []string) error {
	full, err := FullBinary()
	if err != nil {
		return err
	}
	return errNoFull(full, syscall.Exec(full, append([]string{full}, args...), os.Environ()))
}
