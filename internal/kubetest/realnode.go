package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// A real cluster: the simulated cluster's control plane (kube-apiserver,
// etcd, kube-controller-manager, kube-scheduler) and one real node — the
// kubelet and kube-proxy of the same release, containerd, runc and the CNI
// bridge from Debian's packages (`make real-assets`) — on which pods run
// real containers from the images in ImagesDir (imported at start: nothing
// can be pulled here).
//
//	c := kubetest.StartRealCluster(t)             // stopped by t.Cleanup (and on SIGINT/SIGTERM)
//	ref := c.Image(t, "probe")                    // harborha.local/probe:<content hash>
//	c.AddVolumes(t, corev1.ReadWriteMany, "10Gi", 1) // hostPath volumes the pods really write
//	out, err := c.Exec(ctx, ns, pod, container, "psql", "-c", "select 1")
//	kb := c.KubeBlocks(t, ns, "mypg", "myredis")  // PostgreSQL and Redis clusters as KubeBlocks 1.0 makes them (kubeblocks.go)
//
// One node, not several: a second kubelet would need its own runtime, pod
// CIDR, ports and routes, and the hard anti-affinity scenarios already run
// on the simulated cluster's nodes; what a real node adds (containers that
// start, serve, replicate, fail) needs only one. Node ports, hostnames and
// addresses are fixed (host.go), so one real node runs per host at a time:
// a second test binary waits for the first to stop.
//
// Pods reach the API server through the kubernetes Service (10.96.0.1:443,
// verified against the pod's CA), and resolve Service names through
// CoreDNS (dns.go) when the coredns image is there (DNS). Nothing leaves
// the host: the pods' default route ends at the node, and the DNS
// forwards nothing.
type RealCluster struct {
	*Cluster
	ImportTime time.Duration // part of StartTime: importing the images
	phases     []string      // how long each part of the start took, for the log
	DNS        bool          // CoreDNS runs (the coredns image was there): Service names resolve in pods
	Teardown   time.Duration // how long Stop took

	images   map[string]string // name (ImagesDir/<name>.tar) -> reference
	nodeRoot string
	host     *hostState
	lock     *os.File
	holder   *process // owns the node's network and mount namespaces
	nodeMu   sync.Mutex
	node     []*process // holder, containerd, kubelet, kube-proxy
	reaper   *process
	signals  chan os.Signal

	stopOnce sync.Once
	stopErr  error
}

// Binaries of the real node besides the simulated cluster's.
const (
	KubeletBin   = "kubelet"
	KubeProxyBin = "kube-proxy"
)

// NodeRootDir is where the Debian packages of the node are unpacked
// (HARBORHA_NODE_ROOT, default bin/node/root).
func NodeRootDir() string {
	if d := os.Getenv("HARBORHA_NODE_ROOT"); d != "" {
		return d
	}
	return filepath.Join(testutil.RepoRoot(), "bin", "node", "root")
}

// ImagesDir holds the image tarballs the node imports (HARBORHA_IMAGES,
// default bin/images): <name>.tar with its reference in <name>.ref.
func ImagesDir() string {
	if d := os.Getenv("HARBORHA_IMAGES"); d != "" {
		return d
	}
	return filepath.Join(testutil.RepoRoot(), "bin", "images")
}

// missingRealAssets names the first thing the real node lacks, or "".
func missingRealAssets() string {
	if os.Geteuid() != 0 {
		return "root (the real node creates namespaces, cgroups and links)"
	}
	if m := missingAssets("real-assets", "kube-apiserver", "etcd", ControllerManagerBin, SchedulerBin, KubeletBin, KubeProxyBin); m != "" {
		return m
	}
	root := NodeRootDir()
	for _, f := range []string{"usr/bin/containerd", "usr/bin/containerd-shim-runc-v2", "usr/bin/ctr", "usr/sbin/runc", "usr/sbin/nft",
		"usr/lib/cni/bridge", "usr/lib/cni/host-local", "usr/lib/cni/loopback", "usr/lib/cni/portmap"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return fmt.Sprintf("%s (run `make real-assets`, or set HARBORHA_NODE_ROOT)", filepath.Join(root, f))
		}
	}
	for _, img := range []string{"pause", "probe"} {
		if _, err := os.Stat(filepath.Join(ImagesDir(), img+".tar")); err != nil {
			return fmt.Sprintf("%s (run `make images`, or set HARBORHA_IMAGES)", filepath.Join(ImagesDir(), img+".tar"))
		}
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " (util-linux, iproute2)"
		}
	}
	return ""
}

// StartRealCluster starts a real cluster for this test and stops it when
// the test ends. Missing assets skip the test, or fail it under
// HARBORHA_STRICT=1. When the test failed, the end of the node's logs is
// logged.
func StartRealCluster(t testing.TB) *RealCluster {
	t.Helper()
	testutil.SkipShort(t, "the real node")
	if m := missingRealAssets(); m != "" {
		testutil.Missing(t, "%s", m)
	}
	c, err := startRealCluster(t.Logf)
	if err != nil {
		t.Fatalf("kubetest: starting the real node: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(c.node, c.control...) {
				t.Logf("the end of %s's log:\n%s", p.name, p.tail(15))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("kubetest: stopping the real node: %v", err)
		}
	})
	return c
}

func startRealCluster(logf func(string, ...any)) (*RealCluster, error) {
	began := time.Now()
	lock, err := lockHost(10 * time.Minute)
	if err != nil {
		return nil, err
	}
	c := &RealCluster{lock: lock, nodeRoot: NodeRootDir(), images: map[string]string{}}
	if err := c.start(logf); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = fmt.Errorf("%v (and stopping: %v)", err, stopErr)
		}
		return nil, err
	}
	c.StartTime = time.Since(began)
	logf("kubetest: real node %s up in %v (%s; images imported in %v, alongside)", NodeName, c.StartTime.Round(time.Millisecond),
		strings.Join(c.phases, ", "), c.ImportTime.Round(time.Millisecond))
	return c, nil
}

func (c *RealCluster) start(logf func(string, ...any)) error {
	last := time.Now()
	phase := func(name string) {
		c.phases = append(c.phases, fmt.Sprintf("%s %v", name, time.Since(last).Round(time.Millisecond)))
		last = time.Now()
	}
	if err := sweep(); err != nil {
		return err
	}
	var err error
	if c.host, err = recordHost(); err != nil {
		return err
	}
	logDir := filepath.Join(realBase, "logs")
	if d := os.Getenv("HARBORHA_SIM_LOGS"); d != "" {
		logDir = filepath.Join(d, fmt.Sprintf("realnode-%s-%d", filepath.Base(os.Args[0]), os.Getpid()))
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}
	script := filepath.Join(realBase, "cleanup.sh")
	if c.reaper, err = startProcessDeathSignal(syscall.SIGTERM, logDir, "realnode-reaper", "/bin/sh", "-c",
		`trap '[ -f `+script+` ] && /bin/sh `+script+`; exit 0' TERM; while :; do sleep 3600 & wait $!; done`); err != nil {
		return err
	}
	// Stop on Ctrl-C or SIGTERM too: the default action ends the binary
	// without running cleanups.
	c.signals = make(chan os.Signal, 1)
	signal.Notify(c.signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if s, ok := <-c.signals; ok {
			fmt.Fprintf(os.Stderr, "kubetest: %v: stopping the real node\n", s)
			_ = c.Stop()
			os.Exit(1)
		}
	}()
	if err := makeCgroups(); err != nil {
		return err
	}
	if err := c.startNamespaces(logDir); err != nil {
		return err
	}
	phase("host")
	pki := filepath.Join(realBase, "pki")
	ca, err := writeAPIServerCerts(pki)
	if err != nil {
		return err
	}
	port, err := freePort(HostIP)
	if err != nil {
		return err
	}
	env, err := startEnv(map[string]string{
		"service-cluster-ip-range": ServiceCIDR,
		// The kubernetes Service's endpoint is the address pods reach.
		"advertise-address":        HostIP,
		"endpoint-reconciler-type": "lease",
		// exec, logs and port-forward reach the kubelet at its address:
		// the node's name resolves nowhere.
		"kubelet-preferred-address-types": "InternalIP,Hostname",
	}, func(te *envtest.Environment) error {
		api := te.ControlPlane.GetAPIServer()
		api.CertDir = pki
		api.SecureServing.Address, api.SecureServing.Port, api.SecureServing.CA = HostIP, strconv.Itoa(port), ca
		// Pods get their ServiceAccount token (envtest turns this off).
		api.Configure().Disable("disable-admission-plugins")
		return nil
	})
	if err != nil {
		return err
	}
	c.Cluster = &Cluster{Env: env, kwok: map[string]*process{}, logDir: logDir}
	if err := c.startControl(filepath.Join(pki, "ca.crt")); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.createStorageClass(ctx); err != nil {
		return err
	}
	phase("control plane")
	if err := c.startRuntime(ctx); err != nil {
		return err
	}
	phase("containerd")
	// The images are imported while the kubelet and kube-proxy start:
	// nothing runs a pod before both are done.
	tars, err := c.readImages()
	if err != nil {
		return err
	}
	imported := make(chan error, 1)
	go func() {
		began := time.Now()
		err := c.importImages(ctx, tars)
		c.ImportTime = time.Since(began)
		imported <- err
	}()
	err = c.startKubelet(ctx)
	if err == nil {
		err = c.startKubeProxy(ctx)
	}
	if importErr := <-imported; importErr != nil {
		return importErr
	}
	if err != nil {
		return err
	}
	phase("kubelet and kube-proxy")
	if ref := c.images["coredns"]; ref != "" {
		if err := c.startDNS(ctx, ref); err != nil {
			return err
		}
		c.DNS = true
		phase("CoreDNS")
	}
	return nil
}

// startNamespaces starts the holder of the node's network and mount
// namespaces (in the node's cgroups, with a tmpfs on each private mount
// point) and links it to the host: HostIP on the host's end, NodeIP on the
// node's, routes for the pod and service CIDRs through it.
func (c *RealCluster) startNamespaces(logDir string) error {
	ready := filepath.Join(realBase, "namespaces.ready")
	var mounts strings.Builder
	for _, d := range privateMounts {
		fmt.Fprintf(&mounts, "mount -t tmpfs -o mode=0755 harborha-realnode %s && ", d)
	}
	var err error
	c.holder, err = startProcess(logDir, "realnode-namespaces", "unshare", "--net", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", joinCgroups()+mounts.String()+"touch "+ready+" && exec sleep infinity")
	if err != nil {
		return err
	}
	c.nodeMu.Lock()
	c.node = append(c.node, c.holder)
	c.nodeMu.Unlock()
	if err := c.waitUntil(30*time.Second, "the node's namespaces", func() bool { _, err := os.Stat(ready); return err == nil }); err != nil {
		return err
	}
	pid := strconv.Itoa(c.holder.cmd.Process.Pid)
	for _, args := range [][]string{
		{"ip", "link", "add", realLink, "type", "veth", "peer", "name", "eth0", "netns", pid},
		{"ip", "addr", "add", HostIP + "/30", "dev", realLink},
		{"ip", "link", "set", realLink, "up"},
		{"nsenter", "-t", pid, "-n", "ip", "link", "set", "lo", "up"},
		{"nsenter", "-t", pid, "-n", "ip", "addr", "add", NodeIP + "/30", "dev", "eth0"},
		{"nsenter", "-t", pid, "-n", "ip", "link", "set", "eth0", "up"},
		{"nsenter", "-t", pid, "-n", "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"},
		{"ip", "route", "add", PodCIDR, "via", NodeIP, "dev", realLink},
		{"ip", "route", "add", ServiceCIDR, "via", NodeIP, "dev", realLink},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// startNodeProcess starts bin in the node's namespaces and cgroups, with
// the node's tools on PATH.
func (c *RealCluster) startNodeProcess(name, bin string, args ...string) (*process, error) {
	script := joinCgroups() + nodeEnv(c.nodeRoot) + `exec nsenter -t ` + strconv.Itoa(c.holder.cmd.Process.Pid) + ` -n -m -- "$@"`
	p, err := startProcess(c.logDir, name, "/bin/sh", append([]string{"-c", script, "sh", bin}, args...)...)
	if err != nil {
		return nil, err
	}
	c.nodeMu.Lock()
	c.node = append(c.node, p)
	c.nodeMu.Unlock()
	return p, nil
}

// startRuntime writes the CNI and containerd configurations and starts
// containerd, waiting for its socket.
func (c *RealCluster) startRuntime(ctx context.Context) error {
	pauseRef, err := readRef("pause")
	if err != nil {
		return err
	}
	netd := filepath.Join(realBase, "cni", "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(netd, "10-harborha.conflist"), []byte(cniConfig(realBase)), 0o644); err != nil {
		return err
	}
	cfg := filepath.Join(realBase, "containerd", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(cfg, []byte(containerdConfig(realBase, c.nodeRoot, pauseRef)), 0o644); err != nil {
		return err
	}
	if _, err := c.startNodeProcess("containerd", filepath.Join(c.nodeRoot, "usr/bin/containerd"), "--config", cfg); err != nil {
		return err
	}
	return c.waitFor(ctx, "containerd's socket", func(context.Context) (bool, error) {
		conn, err := net.Dial("unix", containerdSocket(realBase))
		if err == nil {
			conn.Close()
		}
		return err == nil, nil
	})
}

// readRef is the reference of ImagesDir/<name>.tar (its .ref file).
func readRef(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(ImagesDir(), name+".ref"))
	if err != nil {
		return "", fmt.Errorf("image %s: %v (run `make images`)", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readImages lists the image tarballs of ImagesDir and their references.
func (c *RealCluster) readImages() ([]string, error) {
	tars, err := filepath.Glob(filepath.Join(ImagesDir(), "*.tar"))
	if err != nil {
		return nil, err
	}
	sort.Strings(tars)
	for _, tar := range tars {
		name := strings.TrimSuffix(filepath.Base(tar), ".tar")
		ref, err := readRef(name)
		if err != nil {
			return nil, err
		}
		c.images[name] = ref
	}
	return tars, nil
}

// importImages imports image tarballs into containerd's k8s.io namespace
// (the kubelet's), two at a time.
func (c *RealCluster) importImages(ctx context.Context, tars []string) error {
	errs := make([]error, len(tars))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, tar := range tars {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, filepath.Join(c.nodeRoot, "usr/bin/ctr"), "--address", containerdSocket(realBase),
				"-n", "k8s.io", "images", "import", tar)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("importing %s: %v: %s", tar, err, out)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Image is the reference of an imported image (ImagesDir/<name>.tar), or
// fails the test.
func (c *RealCluster) Image(t testing.TB, name string) string {
	t.Helper()
	ref, ok := c.images[name]
	if !ok {
		testutil.Missing(t, "image %s in %s (run `make images`, or set HARBORHA_IMAGES)", name, ImagesDir())
	}
	return ref
}

// startKubelet starts the kubelet and waits until the node is Ready.
func (c *RealCluster) startKubelet(ctx context.Context) error {
	dir := filepath.Join(realBase, "kubelet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(kubeletConfig(realBase, containerdSocket(realBase), c.images["coredns"] != "")), 0o644); err != nil {
		return err
	}
	if _, err := c.startNodeProcess("kubelet", filepath.Join(AssetsDir(), KubeletBin),
		"--config", cfg, "--kubeconfig", c.Kubeconfig, "--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "pki"), "--node-ip", NodeIP, "--hostname-override", NodeName, "--v", "1"); err != nil {
		return err
	}
	return c.waitFor(ctx, "node "+NodeName+" Ready (the kubelet)", func(ctx context.Context) (bool, error) {
		n, err := c.Typed.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		return err == nil && kube.NodeReady(n), nil
	})
}

// startKubeProxy starts kube-proxy and waits until the host reaches the
// API server through the kubernetes Service, and the default
// ServiceAccount exists.
func (c *RealCluster) startKubeProxy(ctx context.Context) error {
	cfg := filepath.Join(realBase, "kube-proxy.yaml")
	if err := os.WriteFile(cfg, []byte(kubeProxyConfig(c.Kubeconfig)), 0o644); err != nil {
		return err
	}
	if _, err := c.startNodeProcess("kube-proxy", filepath.Join(AssetsDir(), KubeProxyBin), "--config", cfg, "--v", "1"); err != nil {
		return err
	}
	svc, err := c.kubernetesServiceAddr(ctx)
	if err != nil {
		return err
	}
	if err := c.waitFor(ctx, "the kubernetes Service "+svc+" reachable from the host (kube-proxy)", func(context.Context) (bool, error) {
		conn, err := net.DialTimeout("tcp", svc, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil, nil
	}); err != nil {
		return err
	}
	return c.waitFor(ctx, "the ServiceAccount default/default", func(ctx context.Context) (bool, error) {
		_, err := c.Typed.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func (c *RealCluster) kubernetesServiceAddr(ctx context.Context) (string, error) {
	s, err := c.Typed.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the kubernetes Service: %v", err)
	}
	return net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(s.Spec.Ports[0].Port))), nil
}

// waitFor is Cluster.waitFor, also failing when a node process exits.
func (c *RealCluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	return c.Cluster.waitFor(ctx, what, func(ctx context.Context) (bool, error) {
		if err := c.nodeExited(); err != nil {
			return false, err
		}
		return cond(ctx)
	})
}

// waitUntil polls cond for up to d, failing when a node process exits.
func (c *RealCluster) waitUntil(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if err := c.nodeExited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: timed out after %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (c *RealCluster) nodeExited() error {
	for _, p := range c.nodeProcs() {
		if err := p.exited(); err != nil {
			return err
		}
	}
	return nil
}

func (c *RealCluster) nodeProcs() []*process {
	c.nodeMu.Lock()
	defer c.nodeMu.Unlock()
	return append([]*process(nil), c.node...)
}

// freePort is a free TCP port on ip.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the node (every process in its cgroups, its namespaces, the
// host link), writes the host's sysctls back, stops the control plane and
// removes every file; Leftovers then tells what, if anything, remains.
// Stopping twice does nothing.
func (c *RealCluster) Stop() error {
	c.stopOnce.Do(func() {
		began := time.Now()
		if c.signals != nil {
			signal.Stop(c.signals)
			close(c.signals)
		}
		var errs []error
		procs := c.nodeProcs()
		for _, p := range procs {
			p.stopped.Store(true)
		}
		// kube-proxy and the kubelet first, so that nothing restarts what
		// the cleanup kills; pods and containerd go with the cgroups.
		var first []*process
		for _, p := range procs {
			if p.name == "kubelet" || p.name == "kube-proxy" {
				first = append(first, p)
			}
		}
		errs = append(errs, stopAll(first))
		// Then the pods (their clients keep the API server from stopping),
		// and the control plane while its address (on the host link) still
		// exists: without it, its shutdown hangs too.
		killPods()
		if c.Cluster != nil {
			errs = append(errs, c.Cluster.stop())
		}
		if c.host != nil {
			if out, err := exec.Command("/bin/sh", filepath.Join(realBase, "cleanup.sh")).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("cleanup.sh: %v: %s", err, out))
			}
		}
		for _, p := range procs {
			p.kill()
		}
		if c.reaper != nil {
			c.reaper.kill()
		}
		if c.lock != nil {
			c.lock.Close()
		}
		c.Teardown = time.Since(began)
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Leftovers lists what the node left on the host after Stop, compared
// with before it started (nothing when all is as it was).
func (c *RealCluster) Leftovers() []string {
	out := c.host.leftovers()
	// nftables as the host sees it (kube-proxy's table lives in the node's
	// namespace, which must be gone).
	nft := exec.Command(filepath.Join(c.nodeRoot, "usr/sbin/nft"), "list", "tables")
	nft.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(c.nodeRoot, "usr/lib/x86_64-linux-gnu"))
	if b, err := nft.Output(); err == nil && strings.Contains(string(b), "kube-proxy") {
		out = append(out, "host nftables: "+strings.TrimSpace(string(b)))
	}
	for _, p := range c.nodeProcs() {
		if p.cmd.ProcessState == nil {
			out = append(out, "process "+p.name+" still running")
		}
	}
	return out
}

// RSS is the resident memory of the cluster's processes by name (the
// pods' processes under "pods"), in bytes.
func (c *RealCluster) RSS() map[string]int64 {
	group := map[int]string{} // pid -> name to count it under
	daemons := []string{"kubelet", "kube-proxy", "containerd", "containerd-shim", "sleep"}
	for _, pid := range cgroupProcs() {
		group[pid] = "pods"
		if name := procName(pid); slices.Contains(daemons, name) {
			group[pid] = name
		}
	}
	cp := c.te.ControlPlane
	for _, pid := range childrenWithArg("--cert-dir=" + cp.GetAPIServer().CertDir) {
		group[pid] = "kube-apiserver"
	}
	for _, pid := range childrenWithArg("--data-dir=" + cp.Etcd.DataDir) {
		group[pid] = "etcd"
	}
	for _, p := range c.control {
		group[p.cmd.Process.Pid] = p.name
	}
	res := map[string]int64{}
	for pid, name := range group {
		res[name] += procRSS(pid)
	}
	return res
}

// procName is a process's name as /proc shows it (15 characters at most).
func procName(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

// procRSS is a process's resident memory in bytes (0 when it is gone).
func procRSS(pid int) int64 {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// AddVolumes creates n hostPath PersistentVolumes of the class
// StorageClass, directories under the node's, writable by every user (as
// a fresh disk formatted for the pod would be: images run as non-root
// users, and hostPath volumes ignore fsGroup), and returns their names.
func (c *RealCluster) AddVolumes(t testing.TB, mode corev1.PersistentVolumeAccessMode, size string, n int) []string {
	t.Helper()
	dirType := corev1.HostPathDirectory
	return c.addVolumes(t, mode, size, n, func(name string) *corev1.HostPathVolumeSource {
		dir := filepath.Join(realBase, "volumes", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o1777); err != nil {
			t.Fatal(err)
		}
		return &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}
	})
}
