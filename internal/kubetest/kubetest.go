// Package kubetest runs end-to-end tests against a real kube-apiserver and
// etcd: the binaries `make kube-assets` builds into ./bin/k8s from the
// tools/kube module (or the directory in HARBORHA_KUBE_ASSETS, else
// KUBEBUILDER_ASSETS), started on loopback through controller-runtime's
// envtest. One control plane serves a whole test package.
//
// Missing assets make a test skip locally and fail under HARBORHA_STRICT=1
// (`make test`, CI), through testutil.Missing.
//
// # Use
//
//	func TestMain(m *testing.M) { kubetest.Main(m) } // stops the control plane at the end
//
//	func TestSomething(t *testing.T) {
//		env := kubetest.Start(t)            // started once, on first use
//		env.UseKubeBlocks(t, "1.0.1")       // the real Cluster CRD of that release
//		ns := env.Namespace(t, "discover")  // a fresh namespace (nothing deletes namespaces here)
//		env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
//		// env.Kubeconfig is an admin kubeconfig file, context kubetest.Context.
//		kc := env.User(t, "reader", kubetest.Grant{Namespace: ns, Rules: rules}) // a restricted user's kubeconfig
//		errs := env.DryRunCreate(ctx, ns, objects) // server-side dry run, dryRun=All, fieldValidation=Strict
//		env.EnsureNode(t, "node-a", "192.0.2.10")  // a Ready node with an InternalIP
//		var n kubetest.RequestCounter               // rest.Config.Wrap(n.Wrap): count requests
//	}
//
// For scheduling, evictions, rollouts, node loss and failover, StartCluster
// (cluster.go) starts a second control plane with the real
// kube-controller-manager and kube-scheduler and kwok nodes: a simulated
// cluster where pods run without containers. StartRealCluster
// (realnode.go) starts such a control plane with one real node (kubelet,
// kube-proxy, containerd) on which pods run real containers, and
// KubeBlocks-shaped PostgreSQL and Redis clusters that really replicate
// (kubeblocks.go). What is said below about controllers holds for Start's
// control plane only.
//
// Decode splits YAML streams into objects; Fixture and CRDFile locate the
// shared KubeBlocks inputs; CreateObjects is Create for bulk setup
// (benchmarks).
//
// # What to know about this API server
//
//   - No controllers run: nothing fills in .status (Create writes the
//     fixtures' status through the /status subresource), namespaces never
//     finish deleting (use a fresh one per test), Deployments create no pods.
//   - ServiceAccount admission is off (no controller creates "default").
//   - The service CIDR is 10.96.0.0/16 (room for thousands of Services).
//     Create drops fixed ClusterIPs from fixtures: the server allocates them,
//     as in a real cluster, so tests must read them back.
//   - The KubeBlocks CRDs are third-party data read from
//     ../shared/kubeblocks/crds (HARBORHA_SHARED); the 1.0.1 one is 2.2 MB and
//     is created (never client-side applied). UseKubeBlocks swaps versions;
//     only one can be installed at a time, so tests using it are not parallel.
//     A swap deletes every Cluster object, dropping their
//     cluster.kubeblocks.io/finalizer first (no KubeBlocks controller runs to
//     remove it).
package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/harborha/helm-harborha/internal/testutil"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Context is the context name in the kubeconfig files this package writes.
const Context = "harborha-e2e"

// Env is a running control plane with admin clients.
type Env struct {
	Config     *rest.Config // admin (system:masters)
	Typed      kubernetes.Interface
	Dynamic    dynamic.Interface
	Kubeconfig string // admin kubeconfig file, context Context
	Server     string // https://127.0.0.1:PORT

	te     *envtest.Environment
	reaper *process // kills kube-apiserver and etcd if the test binary dies without stopping them
	dir    string
	mapper *restmapper.DeferredDiscoveryRESTMapper

	mu        sync.Mutex
	kbVersion string // KubeBlocks CRD installed, "" = none
	users     map[string]*envtest.AuthenticatedUser
}

var (
	once     sync.Once
	shared   *Env
	startErr error
	missing  string
)

// Main runs the package's tests and then stops the control plane and the
// simulated cluster, if a test started them. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest: stopping the control plane:", err)
		}
	}
	if sim != nil {
		if err := sim.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest: stopping the simulated cluster:", err)
		}
	}
	os.Exit(code)
}

// AssetsDir is where kube-apiserver and etcd are looked for.
func AssetsDir() string {
	for _, env := range []string{"HARBORHA_KUBE_ASSETS", "KUBEBUILDER_ASSETS"} {
		if d := os.Getenv(env); d != "" {
			return d
		}
	}
	return filepath.Join(testutil.RepoRoot(), "bin", "k8s")
}

// Start returns the package's control plane, starting it on first use.
func Start(t testing.TB) *Env {
	t.Helper()
	testutil.SkipShort(t, "a real kube-apiserver")
	once.Do(func() { shared, startErr = start() })
	if missing != "" {
		testutil.Missing(t, "%s", missing)
	}
	if startErr != nil {
		t.Fatalf("kubetest: %v", startErr)
	}
	return shared
}

func start() (*Env, error) {
	if missing = missingAssets("kube-assets", "kube-apiserver", "etcd"); missing != "" {
		return nil, nil
	}
	return startEnv(nil)
}

// missingAssets names the first of bins that AssetsDir lacks, with the
// make target that builds it, or returns "".
func missingAssets(target string, bins ...string) string {
	dir := AssetsDir()
	for _, bin := range bins {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Sprintf("%s (run `make %s`, or set HARBORHA_KUBE_ASSETS)", filepath.Join(dir, bin), target)
		}
	}
	return ""
}

// startEnv starts kube-apiserver and etcd, with extra API server flags
// (the simulated cluster's) on top of the common ones, and configure
// hooks that change the environment before it starts (the real node's
// serving address and certificates).
func startEnv(extra map[string]string, configure ...func(*envtest.Environment) error) (*Env, error) {
	dir := AssetsDir()
	// controller-runtime logs through logr; nothing here needs its logs.
	ctrllog.SetLogger(logr.Discard())
	te := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	api := te.ControlPlane.GetAPIServer()
	api.Configure().
		Set("service-cluster-ip-range", "10.96.0.0/16").
		// On k8s >= 1.36 the endpoint reconciler refuses some advertise
		// addresses (../shared/e2e/REAL-APISERVER.md); nothing here needs
		// the endpoints of the "kubernetes" Service.
		Set("endpoint-reconciler-type", "none")
	for k, v := range extra {
		api.Configure().Set(k, v)
	}
	for _, f := range configure {
		if err := f(te); err != nil {
			return nil, err
		}
	}
	cfg, err := te.Start()
	if err != nil {
		te.Stop()
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %v", dir, err)
	}
	e, err := newEnv(te, cfg)
	if err != nil {
		te.Stop() // Main only stops what it was handed
		return nil, err
	}
	return e, nil
}

func newEnv(te *envtest.Environment, cfg *rest.Config) (*Env, error) {
	var err error
	e := &Env{te: te, Config: cfg, Server: strings.TrimRight(cfg.Host, "/"), users: map[string]*envtest.AuthenticatedUser{}}
	if e.dir, err = os.MkdirTemp("", "kubetest-"); err != nil {
		return nil, err
	}
	if e.Typed, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if e.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	e.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	if e.Kubeconfig, err = e.writeKubeconfig("admin", cfg); err != nil {
		return nil, err
	}
	cp := te.ControlPlane
	pids := append(childrenWithArg("--cert-dir="+cp.GetAPIServer().CertDir), childrenWithArg("--data-dir="+cp.Etcd.DataDir)...)
	dirs := []string{cp.GetAPIServer().CertDir, cp.Etcd.DataDir, e.dir}
	if e.reaper, err = startReaper(e.dir, pids, dirs); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) stop() error {
	err := e.te.Stop()
	e.reaper.kill()
	os.RemoveAll(e.dir)
	return err
}

// writeKubeconfig writes a kubeconfig file for cfg (client certificate or
// token) with the single context Context.
func (e *Env) writeKubeconfig(name string, cfg *rest.Config) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[Context] = &clientcmdapi.Cluster{Server: strings.TrimRight(cfg.Host, "/"), CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[Context] = &clientcmdapi.Context{Cluster: Context, AuthInfo: name}
	kc.CurrentContext = Context
	p := filepath.Join(e.dir, name+".kubeconfig")
	return p, clientcmd.WriteToFile(*kc, p)
}

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	nsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// ctx is a bounded context for setup calls.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// readAll reads a file or fails the test.
func readAll(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
