// Command pause is the sandbox image's program: it holds the pod's
// namespaces and waits for SIGTERM or SIGINT. The kubelet's own pause image
// cannot be pulled here (no registry), and containerd needs one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		// PID 1 of a pod that shares its process namespace: reap orphans.
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
