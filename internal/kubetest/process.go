package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// process is a control-plane or node binary the simulated cluster runs
// (kube-controller-manager, kube-scheduler, one kwok per node). It runs in
// its own process group, so that a terminal's Ctrl-C reaches only the test
// binary, which then stops it; and with a parent-death signal, so that it
// dies with the test binary even when no cleanup runs (a `go test -timeout`
// panic, a SIGKILL).
type process struct {
	name string
	cmd  *exec.Cmd
	log  string        // its stdout and stderr
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done

	stopped atomic.Bool // stop or kill was called: an exit is expected
}

// startProcess starts bin with args, its output in dir/<name>.log.
func startProcess(dir, name, bin string, args ...string) (*process, error) {
	return startProcessDeathSignal(syscall.SIGKILL, dir, name, bin, args...)
}

// startProcessDeathSignal is startProcess with the signal the process gets
// when the test binary dies.
func startProcessDeathSignal(sig syscall.Signal, dir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports an early exit as an error naming the process and the end
// of its log, or nil while it runs.
func (p *process) exited() error {
	if p.stopped.Load() {
		return nil
	}
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); the end of its log:\n%s", p.name, p.err, p.tail(20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group and waits; after 10 s it sends
// SIGKILL. Stopping a stopped process does nothing.
func (p *process) stop() error {
	p.stopped.Store(true)
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	p.kill()
	return fmt.Errorf("%s did not stop on SIGTERM within 10s; killed", p.name)
}

// kill sends SIGKILL to the process group and waits for the exit: what a
// machine that loses power does to its kubelet.
func (p *process) kill() {
	p.stopped.Store(true)
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// tail is the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopAll stops processes concurrently and joins their errors.
func stopAll(procs []*process) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.stop() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startReaper makes processes that envtest started (kube-apiserver, etcd:
// without a parent-death signal) die with the test binary even when no
// cleanup runs (a `go test -timeout` panic), and removes their
// directories: a shell that only waits, started with a parent-death
// SIGTERM, does it from its trap. The normal stop kills the shell with
// SIGKILL, which runs no trap, once they have stopped.
func startReaper(dir string, pids []int, dirs []string) (*process, error) {
	var list []string
	for _, pid := range pids {
		list = append(list, strconv.Itoa(pid))
	}
	quoted := make([]string, len(dirs))
	for i, d := range dirs {
		quoted[i] = "'" + strings.ReplaceAll(d, "'", `'\''`) + "'"
	}
	script := `trap 'kill -KILL ` + strings.Join(list, " ") + ` $! 2>/dev/null; sleep 1; rm -rf ` + strings.Join(quoted, " ") + `; exit 0' TERM; ` +
		`while :; do sleep 3600 & wait $!; done`
	return startProcessDeathSignal(syscall.SIGTERM, dir, "reaper", "/bin/sh", "-c", script)
}

// childrenWithArg are the test binary's child processes whose command line
// has arg (envtest's kube-apiserver names its --cert-dir, etcd its
// --data-dir: each unique to one control plane).
func childrenWithArg(arg string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		cmdline, err2 := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || err2 != nil {
			continue
		}
		// stat: "pid (comm) state ppid ...", comm may hold spaces.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) && bytes.Contains(cmdline, []byte(arg)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
