package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the real node changes on the host, and how it is undone.
//
// The node runs in a network and mount namespace of its own (a "holder"
// process made by unshare), so that kube-proxy's nftables, the CNI bridge,
// the pods' veths and netns files, containerd's overlay and shm mounts and
// the kubelet's volume mounts never touch the host's: they vanish with the
// namespaces when the node's last process ends. What remains on the host:
//
//   - the host end of the veth to the node (realLink) and two routes via it
//     (pod CIDR, service CIDR): gone with the node's namespace;
//   - one cgroup per hierarchy (realCgroup): the kubelet's cgroupRoot, which
//     also holds containerd, its shims, every container and kube-proxy, so
//     that killing what is in it kills all of the node;
//   - the kernel sysctls the kubelet rewrites (vm.overcommit_memory,
//     kernel.panic, ...: not namespaced), saved before and written back;
//   - the files under realBase, and empty mount points made for the node's
//     private tmpfs mounts (only where none existed).
//
// All of it is undone by one script, cleanup.sh in realBase, written before
// anything is created: run by Stop, by a reaper process when the test
// binary dies without stopping (a `go test -timeout` panic, a SIGKILL), and
// by the next StartRealCluster when even that did not run. Names are fixed
// and one node runs on a host at a time (realLock), so that a leftover is
// always recognised as ours; a second test binary waits for the lock.
const (
	realBase   = "/tmp/harborha-realnode"
	realLock   = "/tmp/harborha-realnode.lock"
	realCgroup = "harborha-realnode"
	realLink   = "hharn0" // host end of the veth; the node end is the node's eth0

	// HostIP is the host's address on the link to the node: the API server
	// serves there, so that pods reach it (through the kubernetes Service).
	HostIP = "10.250.0.1"
	// NodeIP is the node's InternalIP: the kubelet serves there and
	// NodePorts open there.
	NodeIP = "10.250.0.2"
	// PodCIDR holds the node's pod IPs; ServiceCIDR the ClusterIPs.
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/16"
	// NodeName is the real node's name (and kubernetes.io/hostname).
	NodeName = "harborha-node"
)

// hostSysctls are the host's sysctls the node may change: the first six
// the kubelet writes (they are not namespaced); the others belong to the
// node's network namespace and must stay as they are on the host.
var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
}

// privateMounts are host paths the node's tools use whatever they are
// told; inside the node's mount namespace each gets a tmpfs of its own.
var privateMounts = []string{"/run/netns", "/run/containerd", "/var/lib/cni", "/var/log/pods", "/var/log/containers"}

// hostState is what the host looked like before the node started.
type hostState struct {
	sysctls  map[string]string // path under /proc/sys -> value
	madeDirs []string          // mount points that did not exist (removed when empty)
	mounts   int               // lines of /proc/self/mountinfo
}

// lockHost takes the host-wide real node lock, waiting up to wait for a
// node of another test binary to stop. The lock goes with the process.
func lockHost(wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(realLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			_ = f.Truncate(0)
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			holder, _ := os.ReadFile(realLock)
			f.Close()
			return nil, fmt.Errorf("the real node lock %s is held by pid %s (one real node per host; waited %v): %v",
				realLock, strings.TrimSpace(string(holder)), wait, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// sweep undoes what a previous run left behind: its cleanup script if it
// is still there, then whatever carries our names.
func sweep() error {
	script := filepath.Join(realBase, "cleanup.sh")
	if _, err := os.Stat(script); err == nil {
		if out, err := exec.Command("/bin/sh", script).CombinedOutput(); err != nil {
			return fmt.Errorf("running a previous real node's %s: %v\n%s", script, err, out)
		}
	}
	generic := cleanupScript(nil, nil)
	if out, err := exec.Command("/bin/sh", "-c", generic).CombinedOutput(); err != nil {
		return fmt.Errorf("removing a previous real node's leftovers: %v\n%s", err, out)
	}
	return nil
}

// recordHost saves the host's state and writes the cleanup script that
// restores it.
func recordHost() (*hostState, error) {
	h := &hostState{sysctls: map[string]string{}, mounts: countMounts()}
	for _, s := range hostSysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			h.sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	if err := os.MkdirAll(realBase, 0o755); err != nil {
		return nil, err
	}
	for _, d := range privateMounts {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			h.madeDirs = append(h.madeDirs, d)
		}
	}
	// The script first, then the directories it removes.
	if err := os.WriteFile(filepath.Join(realBase, "cleanup.sh"), []byte(cleanupScript(h.sysctls, h.madeDirs)), 0o700); err != nil {
		return nil, err
	}
	for _, d := range h.madeDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// cleanupScript kills every process in the node's cgroups, removes the
// cgroups, the host link and realBase, writes sysctls back and removes
// madeDirs when empty. It is idempotent and never touches anything
// without our names.
func cleanupScript(sysctls map[string]string, madeDirs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
# The real node's cleanup (internal/kubetest, host.go): run by Stop, by the
# reaper when the test binary died, by the next start when neither ran.
cg=%s
procs() { find /sys/fs/cgroup/*/"$cg" -name cgroup.procs -exec cat {} + 2>/dev/null; }
i=0
while [ -n "$(procs)" ] && [ $i -lt 100 ]; do
	kill -KILL $(procs) 2>/dev/null
	sleep 0.1
	i=$((i + 1))
done
for d in /sys/fs/cgroup/*/"$cg"; do
	[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done
ip link del %s 2>/dev/null
`, realCgroup, realLink)
	keys := make([]string, 0, len(sysctls))
	for k := range sysctls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "[ \"$(cat /proc/sys/%[1]s)\" = '%[2]s' ] || echo '%[2]s' >/proc/sys/%[1]s\n", k, sysctls[k])
	}
	for _, d := range madeDirs {
		fmt.Fprintf(&b, "rmdir %s 2>/dev/null\n", d)
	}
	fmt.Fprintf(&b, "rm -rf %s\nexit 0\n", realBase)
	return b.String()
}

// cgroupHierarchies are the mounted cgroup hierarchies (v1 controllers,
// name=systemd, the unified v2 one).
func cgroupHierarchies() []string {
	var hs []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
			hs = append(hs, p)
		}
	}
	if len(hs) == 0 {
		hs = []string{"/sys/fs/cgroup"} // cgroup v2 alone
	}
	return hs
}

// makeCgroups creates realCgroup and realCgroup/node (the daemons') in
// every hierarchy; a new cpuset gets its parent's CPUs and memory nodes
// (empty ones admit no process).
func makeCgroups() error {
	for _, h := range cgroupHierarchies() {
		for _, rel := range []string{realCgroup, realCgroup + "/node"} {
			d := filepath.Join(h, rel)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("creating cgroup %s: %v", d, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f)); err == nil {
					if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
						return fmt.Errorf("initialising %s: %v", filepath.Join(d, f), err)
					}
				}
			}
		}
	}
	return nil
}

// joinCgroups is shell that moves the shell itself into realCgroup/node
// in every hierarchy: what the node's processes run before anything else.
func joinCgroups() string {
	var b strings.Builder
	for _, h := range cgroupHierarchies() {
		fmt.Fprintf(&b, "echo $$ >%s/%s/node/cgroup.procs && ", h, realCgroup)
	}
	return b.String()
}

// cgroupProcs lists the processes in the node's cgroups, or in those
// under sub ("kubepods": the pods').
func cgroupProcs(sub ...string) []int {
	seen := map[int]bool{}
	for _, h := range cgroupHierarchies() {
		_ = filepath.Walk(filepath.Join(append([]string{h, realCgroup}, sub...)...), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	var pids []int
	for p := range seen {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	return pids
}

// killPods kills every process of the node's pods (SIGKILL, until none is
// left or 5 s passed).
func killPods() {
	for range 50 {
		pids := cgroupProcs("kubepods")
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countMounts is the number of mounts the test binary sees.
func countMounts() int {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Count(string(b), "\n")
}

// leftovers compares the host with before: what the node left behind, as
// one line each (nothing when all is as it was).
func (h *hostState) leftovers() []string {
	var out []string
	if pids := cgroupProcs(); len(pids) > 0 {
		out = append(out, fmt.Sprintf("processes in the node's cgroups: %v", pids))
	}
	for _, hier := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(hier, realCgroup)); err == nil {
			out = append(out, "cgroup "+filepath.Join(hier, realCgroup))
		}
		if _, err := os.Stat(filepath.Join(hier, "kubepods")); err == nil {
			out = append(out, "cgroup "+filepath.Join(hier, "kubepods")+" (the kubelet's, outside its cgroupRoot)")
		}
	}
	for _, s := range hostSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			continue
		}
		if v := strings.TrimSpace(string(b)); v != h.sysctls[s] {
			out = append(out, fmt.Sprintf("sysctl %s = %s, was %s", s, v, h.sysctls[s]))
		}
	}
	if _, err := os.Stat("/sys/class/net/" + realLink); err == nil {
		out = append(out, "link "+realLink)
	}
	if n := countMounts(); n != h.mounts {
		out = append(out, fmt.Sprintf("mounts: %d, were %d", n, h.mounts))
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), realBase) {
		out = append(out, "mounts under "+realBase)
	}
	for _, d := range h.madeDirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, "directory "+d)
		}
	}
	if _, err := os.Stat(realBase); err == nil {
		out = append(out, "directory "+realBase)
	}
	if out2, err := exec.Command("nft", "list", "tables").Output(); err == nil && strings.Contains(string(out2), "kube-proxy") {
		out = append(out, "host nftables: "+strings.TrimSpace(string(out2)))
	}
	if out2, err := exec.Command("ip", "route", "show").Output(); err == nil {
		for _, l := range strings.Split(string(out2), "\n") {
			if strings.Contains(l, realLink) || strings.HasPrefix(l, PodCIDR) || strings.HasPrefix(l, ServiceCIDR) {
				out = append(out, "route "+l)
			}
		}
	}
	return out
}
