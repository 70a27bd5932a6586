package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// A simulated cluster: the API server and etcd of Start, plus the real
// kube-controller-manager and kube-scheduler of the same release and one
// kwok process per node, all from AssetsDir (`make kube-assets`). Pods are
// scheduled by the real scheduler, honouring affinity, spread constraints,
// taints and claims; the controllers run Deployments, StatefulSets, Jobs,
// PodDisruptionBudgets (so evictions honour them), EndpointSlices, the
// node lifecycle and garbage collection; kwok makes bound pods Ready
// without containers (stages.go). It is a separate control plane from
// Start's, so tests that rely on nothing running there are unaffected.
//
//	c := kubetest.StartCluster(t, kubetest.ClusterOptions{Nodes: 3, Zones: 3})
//	c.AddVolumes(t, corev1.ReadWriteMany, "10Gi", 1)  // storage (storage.go)
//	evicted, err := c.Drain(ctx, "node-1", ns, "release=x", 30*time.Second) // drain.go
//	w := c.WatchReady(t, ns, "release=x", "component") // Ready pods per component (ready.go)
//	c.StopNode(t, "node-3")                            // node loss (nodes.go)
//
// Timings chosen for tests (each flag below says why): a node that stops
// its heartbeat is Unknown after 10 s and its pods are evicted 2 s later.

// ClusterOptions shape the simulated cluster.
type ClusterOptions struct {
	Nodes int // kwok nodes, named node-1 ... node-N (default 3)
	Zones int // zones zone-a, zone-b, ...; node i is in zone i mod Zones (default: one per node)
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Zones == 0 {
		o.Zones = o.Nodes
	}
	return o
}

// SimNode is a node of the simulated cluster.
type SimNode struct {
	Name, Zone string
	IP         string // its InternalIP
	PodCIDR    string // where its pods' IPs come from
}

// Cluster is a running simulated cluster with admin clients (Env's).
type Cluster struct {
	*Env
	Nodes     []SimNode
	StartTime time.Duration // how long StartCluster took, for the README's figures

	opts      ClusterOptions
	logDir    string // the parts' logs: under HARBORHA_SIM_LOGS (kept), else in the cluster's temporary directory
	stagesCfg string // kwok's stage configuration file
	mu        sync.Mutex
	control   []*process          // kube-controller-manager, kube-scheduler
	kwok      map[string]*process // by node name
}

// Binaries of a simulated cluster, besides kube-apiserver and etcd.
const (
	ControllerManagerBin = "kube-controller-manager"
	SchedulerBin         = "kube-scheduler"
	KwokBin              = "kwok"
)

var (
	simOnce    sync.Once
	sim        *Cluster
	simErr     error
	simMissing string
)

// StartCluster returns the package's simulated cluster, starting it on
// first use (Main stops it). Every call in a package must ask for the same
// options. Missing binaries skip the test, or fail it under
// HARBORHA_STRICT=1.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	testutil.SkipShort(t, "the simulated cluster")
	opts = opts.withDefaults()
	simOnce.Do(func() {
		if simMissing = missingAssets("sim-assets", "kube-apiserver", "etcd", ControllerManagerBin, SchedulerBin, KwokBin); simMissing == "" {
			sim, simErr = startCluster(opts)
		}
	})
	if simMissing != "" {
		testutil.Missing(t, "%s", simMissing)
	}
	if simErr != nil {
		t.Fatalf("kubetest: %v", simErr)
	}
	if sim.opts != opts {
		t.Fatalf("kubetest: this package's simulated cluster has %+v, a test asks for %+v (one cluster per package)", sim.opts, opts)
	}
	return sim
}

// clusterAPIServerFlags are the API server flags of the simulated cluster.
var clusterAPIServerFlags = map[string]string{
	// The DefaultTolerationSeconds admission plugin gives every pod 300 s of
	// tolerance for a not-ready or unreachable node; 2 s makes a lost node's
	// pods go (and their replacements come) within seconds.
	"default-not-ready-toleration-seconds":   "2",
	"default-unreachable-toleration-seconds": "2",
}

func startCluster(opts ClusterOptions) (*Cluster, error) {
	began := time.Now()
	env, err := startEnv(clusterAPIServerFlags)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Env: env, opts: opts, kwok: map[string]*process{}, logDir: env.dir}
	if d := os.Getenv("HARBORHA_SIM_LOGS"); d != "" {
		// One directory per test binary: packages run at the same time.
		d = filepath.Join(d, fmt.Sprintf("%s-%d", filepath.Base(os.Args[0]), os.Getpid()))
		if err := os.MkdirAll(d, 0o700); err != nil {
			env.stop()
			return nil, err
		}
		c.logDir = d
	}
	for i := range opts.Nodes {
		c.Nodes = append(c.Nodes, SimNode{
			Name:    fmt.Sprintf("node-%d", i+1),
			Zone:    fmt.Sprintf("zone-%c", 'a'+i%opts.Zones),
			IP:      fmt.Sprintf("192.0.2.%d", 101+i),
			PodCIDR: fmt.Sprintf("10.244.%d.0/24", i+1),
		})
	}
	if err := c.startParts(); err != nil {
		if stopErr := c.stop(); stopErr != nil {
			err = fmt.Errorf("%v (and stopping: %v)", err, stopErr)
		}
		return nil, err
	}
	c.StartTime = time.Since(began)
	return c, nil
}

// startParts starts the controllers, the scheduler and the nodes and
// waits until they work together: every node Ready, the "default"
// ServiceAccount created, a probe pod scheduled and Ready.
func (c *Cluster) startParts() error {
	c.stagesCfg = filepath.Join(c.dir, "kwok-stages.yaml")
	if err := os.WriteFile(c.stagesCfg, []byte(kwokStages), 0o600); err != nil {
		return err
	}
	caFile := filepath.Join(c.dir, "ca.crt")
	if err := os.WriteFile(caFile, c.Config.CAData, 0o600); err != nil {
		return err
	}
	if err := c.startControl(caFile); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.createStorageClass(ctx); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if err := c.createNode(ctx, n); err != nil {
			return err
		}
		if err := c.startKwok(n.Name); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := c.waitNodeReady(ctx, n.Name, true); err != nil {
			return err
		}
	}
	if err := c.waitFor(ctx, "the ServiceAccount default/default (kube-controller-manager's serviceaccount controller)", func(ctx context.Context) (bool, error) {
		_, err := c.Typed.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	return c.probe(ctx)
}

// startControl starts kube-controller-manager, which gives pods caFile as
// the API server's CA, and kube-scheduler.
func (c *Cluster) startControl(caFile string) error {
	for _, part := range []struct {
		name string
		args []string
	}{
		{ControllerManagerBin, c.controllerManagerArgs(caFile)},
		{SchedulerBin, c.schedulerArgs()},
	} {
		p, err := startProcess(c.logDir, part.name, filepath.Join(AssetsDir(), part.name), part.args...)
		if err != nil {
			return err
		}
		c.control = append(c.control, p)
	}
	return nil
}

func (c *Cluster) controllerManagerArgs(caFile string) []string {
	kc := c.Kubeconfig
	return []string{
		"--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
		// The keys envtest generated for the API server's service accounts.
		"--service-account-private-key-file", filepath.Join(c.te.ControlPlane.GetAPIServer().CertDir, "sa-signer.key"),
		"--root-ca-file", caFile,
		// Each node gets its pod CIDR from the test (no IPAM).
		"--controllers=*,-nodeipam",
		// A node whose heartbeat stops is Unknown after 10 s (default 50 s),
		// checked every second (default 5 s); kwok beats every 1.5-2.5 s.
		"--node-monitor-grace-period=10s", "--node-monitor-period=1s",
		// Unbound claims are retried every second (default 15 s), for
		// volumes created after their claim.
		"--pvclaimbinder-sync-period=1s",
		// Autoscalers act every 2 s (default 15 s) on the metrics double's
		// samples (metrics.go).
		"--horizontal-pod-autoscaler-sync-period=2s",
		// A release creates dozens of pods at once: no client-side
		// throttling at the default 20 requests per second.
		"--kube-api-qps=500", "--kube-api-burst=1000",
	}
}

func (c *Cluster) schedulerArgs() []string {
	kc := c.Kubeconfig
	return []string{
		"--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
	}
}

// startKwok starts the kwok process that plays a node's kubelet.
func (c *Cluster) startKwok(node string) error {
	p, err := startProcess(c.logDir, "kwok-"+node, filepath.Join(AssetsDir(), KwokBin),
		"--kubeconfig", c.Kubeconfig, "--manage-single-node", node, "--config", c.stagesCfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.kwok[node] = p
	c.mu.Unlock()
	return nil
}

// createNode registers a node as a kubelet would: labels for hostname,
// zone and platform, room for 110 pods, its addresses and pod CIDR.
func (c *Cluster) createNode(ctx context.Context, n SimNode) error {
	room := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
			corev1.LabelHostname:       n.Name,
			corev1.LabelTopologyZone:   n.Zone,
			corev1.LabelTopologyRegion: "sim",
			corev1.LabelOSStable:       "linux",
			corev1.LabelArchStable:     "amd64",
		}},
		Spec: corev1.NodeSpec{PodCIDR: n.PodCIDR, PodCIDRs: []string{n.PodCIDR}},
		Status: corev1.NodeStatus{
			Capacity: room, Allocatable: room,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP}, {Type: corev1.NodeHostName, Address: n.Name}},
		},
	}
	_, err := c.Typed.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node %s: %v", n.Name, err)
	}
	return nil
}

// probe schedules one pod and waits until it is Ready, then deletes it:
// the scheduler binds, kwok runs, the stages apply.
func (c *Cluster) probe(ctx context.Context) error {
	pods := c.Typed.CoreV1().Pods("default")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubetest-probe"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the probe pod: %v", err)
	}
	if err := c.waitFor(ctx, "a probe pod scheduled (kube-scheduler) and Ready (kwok)", func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != "" && kube.PodReady(p), nil
	}); err != nil {
		return err
	}
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("deleting the probe pod: %v", err)
	}
	return c.waitFor(ctx, "the probe pod deleted (kwok)", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// waitFor polls cond every 50 ms until it holds, ctx ends (an error naming
// what was awaited) or a part of the cluster exits (an error with its log).
func (c *Cluster) waitFor(ctx context.Context, what string, cond wait.ConditionWithContextFunc) error {
	var exited error
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if exited = c.exited(); exited != nil {
			return false, exited
		}
		return cond(ctx)
	})
	switch {
	case exited != nil:
		return exited
	case err != nil:
		return fmt.Errorf("waiting for %s: %v", what, err)
	}
	return nil
}

// exited reports the first part of the cluster that exited unasked (a
// node stopped by StopNode is not one).
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.control {
		if err := p.exited(); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if p := c.kwok[n.Name]; p != nil {
			if err := p.exited(); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop stops every part: nodes, scheduler and controllers, then the API
// server and etcd, and removes the cluster's files.
func (c *Cluster) stop() error {
	c.mu.Lock()
	procs := append([]*process(nil), c.control...)
	for _, p := range c.kwok {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	err := stopAll(procs)
	if envErr := c.Env.stop(); envErr != nil {
		if err != nil {
			return fmt.Errorf("%v; %v", err, envErr)
		}
		return envErr
	}
	return err
}
