package helmrun_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The autoscaler scenarios on the simulated cluster: the metrics double
// (kubetest.ServeMetrics) plays metrics-server, so kube-controller-manager's
// own HorizontalPodAutoscaler controller scales Harbor's core on the CPU
// use the test reports. Side by side, on Helm 3 and Helm 4:
//   - harborha: a release with pinned replicas moves to --autoscale (the
//     transition), the autoscaler scales core up, and a later `helm
//     harborha upgrade` that rolls every pod leaves the scaled count alone;
//   - the chart through values alone (core.replicas pinned) with the same
//     autoscaler made by hand: a later `helm upgrade` resets the count.

const (
	scaledComponent = "core"
	scaledWorkload  = simRelease + "-" + scaledComponent
	scaledMin       = 2
	scaledMax       = 3
)

// busyCore is the load: core's pods use twice their CPU request, which
// drives the autoscaler to its maximum; the others idle.
func busyCore(p *corev1.Pod, _ string) corev1.ResourceList {
	cpu := "5m"
	if p.Labels["component"] == scaledComponent {
		cpu = "200m"
	}
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
}

// autoscaleValues are Helm's flags both sides share: core requests CPU (an
// autoscaler on CPU needs it), and no claims (emptyDir), so that scaling
// needs no volumes.
var autoscaleValues = []string{"--set", "core.resources.requests.cpu=100m", "--set", "persistence.enabled=false"}

func TestSimAutoscaleHelm3(t *testing.T) { autoscaleScenario(t, 3, 30251) }
func TestSimAutoscaleHelm4(t *testing.T) { autoscaleScenario(t, 4, 30253) }

func autoscaleScenario(t *testing.T, major, nodePort int) {
	c := kubetest.StartCluster(t, simOptions)
	c.ServeMetrics(t, busyCore)
	t.Run("harborha", func(t *testing.T) { harborhaAutoscale(t, major, nodePort) })
	t.Run("values alone", func(t *testing.T) { valuesAloneAutoscale(t, major, nodePort+1) })
}

// harborhaAutoscale: install with 2 pinned replicas, upgrade to
// --autoscale core=2:3 (the transition), the autoscaler scales core to 3,
// then an upgrade that rolls every pod keeps 3.
func harborhaAutoscale(t *testing.T, major, nodePort int) {
	s := newSimHarbor(t, major, "harbor-1.19.1.tgz", nodePort, autoscaleValues...)
	ready := s.c.WatchReady(t, s.ns, simSelector+",component="+scaledComponent, "component")
	count := watchReplicas(t, s.c, s.ns, scaledWorkload)
	autoscale := fmt.Sprintf("--autoscale=%s=%d:%d", scaledComponent, scaledMin, scaledMax)

	s.harborha(t, 0, "install", "--wait", "--timeout", simInstallTimeout)
	if got := count.now(); got != 2 {
		t.Fatalf("core after install: %d replicas, want the 2 harborha pins", got)
	}

	// The transition: the release pinned 2, the upgrade pins none and adds
	// the autoscaler. Helm 4 applies server-side, and harborha's handover
	// keeps the count; Helm 3's client-side merge deletes the field, which
	// the API server defaults to 1 until the autoscaler's next sync.
	ready.Reset()
	count.reset()
	stderr := s.harborhaOut(t, 0, "upgrade", autoscale, "--wait", "--timeout", simUpgradeTimeout)
	t.Logf("Helm %d, transition to --autoscale: spec.replicas went %v, fewest Ready core pods %d", major, count.seen(), ready.Min()[scaledComponent])
	wantSeen, wantLine := []int32{2}, "myharbor-core keeps its 2 replicas while Helm stops pinning them"
	if major == 3 {
		wantSeen, wantLine = []int32{2, 1}, "warning: this upgrade stops pinning myharbor-core's replicas for its autoscaler, and Helm's client-side merge deletes the field"
	}
	if seen := count.seen(); len(seen) < len(wantSeen) || !slices.Equal(seen[:len(wantSeen)], wantSeen) || (major == 4 && ready.Min()[scaledComponent] < 2) {
		t.Errorf("Helm %d, transition: spec.replicas went %v, fewest Ready %d; want it to start %v", major, seen, ready.Min()[scaledComponent], wantSeen)
	}
	if !strings.Contains(stderr, wantLine) {
		t.Errorf("Helm %d, transition: stderr lacks %q:\n%s", major, wantLine, stderr)
	}
	count.wait(t, scaledMax, "the autoscaler to scale core to its maximum")
	ready.Wait(t, time.Minute, "core's scaled pods Ready", kubetest.AtLeast(scaledMax, scaledComponent))

	// A later upgrade, every pod rolled: the autoscaler's count stays.
	ready.Reset()
	count.reset()
	stderr = s.harborhaOut(t, 0, "upgrade", append([]string{autoscale, "--wait", "--timeout", simUpgradeTimeout}, rolloutFlags(2)...)...)
	if ours := withoutKlog(stderr); strings.Contains(ours, "replicas") {
		t.Errorf("the upgrade after the transition says something about replicas:\n%s", ours)
	}
	t.Logf("Helm %d, upgrade under the autoscaler: spec.replicas went %v, fewest Ready core pods %d", major, count.seen(), ready.Min()[scaledComponent])
	if lo := count.min(); lo != scaledMax {
		t.Errorf("during helm harborha upgrade core's spec.replicas went %v: the upgrade touched the autoscaler's count %d", count.seen(), scaledMax)
	}
	if lo := ready.Min()[scaledComponent]; lo < scaledMax-1 {
		t.Errorf("during the rolling upgrade core had %d Ready pods, want at least %d (maxUnavailable 1)", lo, scaledMax-1)
	}
}

// valuesAloneAutoscale: the chart with core.replicas=2 pinned in values
// and an autoscaler made by hand; the autoscaler scales core to 3. On
// Helm 3 the next helm upgrade sets it back to 2; on Helm 4 (server-side
// apply) it fails, the autoscaler owning the field, and with Helm's
// --force-conflicts it sets it back.
func valuesAloneAutoscale(t *testing.T, major, nodePort int) {
	s := newSimHarbor(t, major, "harbor-1.19.1.tgz", nodePort)
	values := filepath.Join(t.TempDir(), "values.yaml")
	s.h.run(t, 0, "harborha", "values", "-n", s.ns, fmt.Sprintf("--node-port=%d", nodePort), "-o", values)
	helm := func(wantCode int, cmd string, extra ...string) string {
		args := append([]string{cmd, simRelease, s.chart, "-n", s.ns, "-f", values, "-f", testutil.PinSecrets(t),
			"--set", fmt.Sprintf("%s.replicas=%d", scaledComponent, scaledMin), "--wait", "--timeout", simInstallTimeout}, autoscaleValues...)
		_, stderr := s.h.run(t, wantCode, append(args, extra...)...)
		return stderr
	}
	count := watchReplicas(t, s.c, s.ns, scaledWorkload)
	helm(0, "install")
	createAutoscaler(t, s.c, s.ns)
	count.wait(t, scaledMax, "the autoscaler to scale core to its maximum")

	count.reset()
	upgrade := []string{"--set-string", scaledComponent + ".podAnnotations.sim-rollout=2"}
	if major == 4 {
		stderr := helm(1, "upgrade", upgrade...)
		t.Logf("Helm 4, values alone, upgrade under the autoscaler: spec.replicas went %v; helm said %q", count.seen(), stderr)
		if !strings.Contains(stderr, `conflict with "kube-controller-manager" with subresource "scale" using apps/v1: .spec.replicas`) || count.min() != scaledMax {
			t.Errorf("Helm 4, values alone: want the upgrade refused on a conflict over .spec.replicas with the count untouched; got %v and %q", count.seen(), stderr)
		}
		upgrade = append(upgrade, "--force-conflicts")
	}
	stderr := helm(0, "upgrade", upgrade...)
	t.Logf("Helm %d, values alone, upgrade %v under the autoscaler: spec.replicas went %v; helm said %q", major, upgrade, count.seen(), stderr)
	if lo := count.min(); lo != scaledMin {
		t.Errorf("values alone: during helm upgrade core's spec.replicas went %v, want it reset to the pinned %d", count.seen(), scaledMin)
	}
}

// harborhaOut is harborha with the scenario's flags; it returns stderr.
func (s *simHarbor) harborhaOut(t *testing.T, wantCode int, cmd string, extra ...string) string {
	t.Helper()
	args := []string{"harborha", cmd, simRelease, s.chart, "-n", s.ns, "--no-bootstrap",
		fmt.Sprintf("--node-port=%d", s.nodePort), "-f", testutil.PinSecrets(t)}
	_, stderr := s.h.run(t, wantCode, append(append(args, s.flags...), extra...)...)
	return stderr
}

// createAutoscaler makes by hand the autoscaler --autoscale would write.
func createAutoscaler(t *testing.T, c *kubetest.Cluster, ns string) {
	t.Helper()
	hpa := fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %[1]s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: %[2]d
  maxReplicas: %[3]d
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
`, scaledWorkload, scaledMin, scaledMax)
	objs, err := kubetest.Decode([]byte(hpa))
	if err != nil {
		t.Fatal(err)
	}
	c.Create(t, ns, objs...)
}

// replicaWatch records every spec.replicas a Deployment is seen with,
// through a watch, so that a dip between two polls is not missed.
type replicaWatch struct {
	mu     sync.Mutex
	store  cache.Store
	values []int32 // since reset, in order, each change once
}

func watchReplicas(t *testing.T, c *kubetest.Cluster, ns, name string) *replicaWatch {
	t.Helper()
	f := informers.NewSharedInformerFactoryWithOptions(c.Typed, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	inf := f.Apps().V1().Deployments().Informer()
	w := &replicaWatch{store: inf.GetStore()}
	on := func(o any) {
		d, ok := o.(*appsv1.Deployment)
		if !ok || d.Spec.Replicas == nil {
			return
		}
		w.mu.Lock()
		if n := len(w.values); n == 0 || w.values[n-1] != *d.Spec.Replicas {
			w.values = append(w.values, *d.Spec.Replicas)
		}
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, o any) { on(o) }}); err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(stop.Done())
	if !cache.WaitForCacheSync(stop.Done(), inf.HasSynced) {
		t.Fatalf("the watch of Deployment %s/%s did not sync", ns, name)
	}
	return w
}

// now is the latest spec.replicas seen (0: none yet).
func (w *replicaWatch) now() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.values) == 0 {
		return 0
	}
	return w.values[len(w.values)-1]
}

// reset forgets all but the latest value.
func (w *replicaWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.values); n > 1 {
		w.values = w.values[n-1:]
	}
}

func (w *replicaWatch) seen() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.values)
}

func (w *replicaWatch) min() int32 { return slices.Min(w.seen()) }

// wait waits until spec.replicas is n.
func (w *replicaWatch) wait(t *testing.T, n int32, what string) {
	t.Helper()
	began := time.Now()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return w.now() == n, nil
	})
	if err != nil {
		t.Fatalf("%s: spec.replicas went %v, want %d", what, w.seen(), n)
	}
	t.Logf("%s: %s", what, time.Since(began).Round(100*time.Millisecond))
}

// klogLine is a line client-go logs in Helm's --wait (its throttling
// notes name URLs such as .../replicasets), not a word of ours.
var klogLine = regexp.MustCompile(`^\s*[IWEF]\d{4} \d\d:\d\d:\d\d`)

// withoutKlog is stderr without client-go's log lines.
func withoutKlog(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if !klogLine.MatchString(l) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
