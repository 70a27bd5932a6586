package helmrun_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The HA scenarios on the simulated cluster (kubetest.StartCluster: the
// real kube-controller-manager and kube-scheduler, 3 kwok nodes in 3
// zones): `helm harborha install --wait` of the real chart with discovery
// of the KubeBlocks 1.0 fixture clusters, then what "highly available"
// means to the person running Harbor: placement, drains within the
// budgets, rolling upgrades that complete, node loss, a database and Redis
// switchover. Each scenario runs in its own namespace; the cluster is
// shared by the package (drains and node loss change it, so the scenarios
// run one after another).

const (
	simReplicas = 3
	simRelease  = "myharbor"
	simSelector = "release=" + simRelease
	// Every helm --wait has a timeout, so that a deadlock ends the step.
	simInstallTimeout = "3m"
	simUpgradeTimeout = "90s"
	// The rollout that deadlocks is given less: the deadlock is proved by
	// the surge pod and its scheduling failure, not by the timeout.
	simDeadlockTimeout = "20s"
)

var simOptions = kubetest.ClusterOptions{Nodes: 3, Zones: 3}

// harborComponents are the workloads the chart renders with the values
// overlay (nginx for the node port; no exporter without metrics).
var harborComponents = []string{"core", "jobservice", "nginx", "portal", "registry", "trivy"}

// simHarbor is one release's scenario: its namespace with the KubeBlocks
// fixture clusters and volumes, the Helm home with the plugin, the chart.
type simHarbor struct {
	c        *kubetest.Cluster
	h        *helmHome
	ns       string
	chart    string
	nodePort int
	flags    []string // harborha's flags of install and upgrade
}

// newSimHarbor prepares a namespace on the simulated cluster: the fixture
// clusters (their pods scheduled and made Ready like any other), the
// ReadWriteMany volume for the shared claim and one ReadWriteOnce volume
// per trivy replica, and the plugin on Helm major.
func newSimHarbor(t *testing.T, major int, chart string, nodePort int, flags ...string) *simHarbor {
	t.Helper()
	c := kubetest.StartCluster(t, simOptions)
	c.UseKubeBlocks(t, "1.0.1")
	ns := c.Namespace(t, "sim")
	t.Cleanup(func() { deleteNamespace(t, c, ns) })
	c.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	c.AddVolumes(t, corev1.ReadWriteMany, "10Gi", 1)
	c.AddVolumes(t, corev1.ReadWriteOnce, "5Gi", simReplicas)
	h := installPlugin(t, major)
	h.env = append(h.env, "KUBECONFIG="+c.Kubeconfig)
	return &simHarbor{c: c, h: h, ns: ns, chart: testutil.Chart(t, chart), nodePort: nodePort, flags: flags}
}

// deleteNamespace removes a scenario's namespace, so that its pods leave
// the nodes before the next scenario drains or loses one. The namespace
// itself may stay Terminating (the fixture Clusters' finalizers).
func deleteNamespace(t *testing.T, c *kubetest.Cluster, ns string) {
	err := c.Typed.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", ns, err)
	}
}

// harborha runs `helm harborha <cmd> myharbor CHART` with the scenario's
// flags, then extra (Helm's or harborha's), and checks the exit status.
func (s *simHarbor) harborha(t *testing.T, wantCode int, cmd string, extra ...string) {
	t.Helper()
	args := []string{"harborha", cmd, simRelease, s.chart, "-n", s.ns, "--no-bootstrap",
		fmt.Sprintf("--node-port=%d", s.nodePort), "-f", testutil.PinSecrets(t)}
	s.h.run(t, wantCode, append(append(args, s.flags...), extra...)...)
}

// watch follows the release's Ready pods per component for the whole
// scenario (started by the scenario's test, not by one step's subtest,
// whose end would stop it).
func (s *simHarbor) watch(t *testing.T) *kubetest.ReadyWatch {
	return s.c.WatchReady(t, s.ns, simSelector, "component")
}

// install is `helm harborha install --wait`, then every component must
// have all its replicas Ready.
func (s *simHarbor) install(t *testing.T, w *kubetest.ReadyWatch) {
	t.Helper()
	began := time.Now()
	s.harborha(t, 0, "install", "--wait", "--timeout", simInstallTimeout)
	t.Logf("helm harborha install --wait: %s", time.Since(began).Round(100*time.Millisecond))
	w.Wait(t, 5*time.Second, "the watch to see what install --wait waited for", func(r map[string]int) bool { return equalCounts(r, simReplicas) })
}

// equalCounts: exactly the Harbor components, each with n Ready pods.
func equalCounts(got map[string]int, n int) bool {
	want := map[string]int{}
	for _, c := range harborComponents {
		want[c] = n
	}
	return maps.Equal(got, want)
}

// readyPods are the Ready pods of the release by component.
func (s *simHarbor) readyPods(t *testing.T) map[string][]corev1.Pod {
	t.Helper()
	pods, err := s.c.Typed.CoreV1().Pods(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: simSelector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		if kube.PodReady(&p) {
			out[p.Labels["component"]] = append(out[p.Labels["component"]], p)
		}
	}
	return out
}

// checkPlacement: every component's Ready replicas on distinct nodes and
// distinct zones.
func (s *simHarbor) checkPlacement(t *testing.T) {
	t.Helper()
	for comp, pods := range s.readyPods(t) {
		nodes, zones := map[string]bool{}, map[string]bool{}
		for _, p := range pods {
			nodes[p.Spec.NodeName] = true
			zones[s.c.ZoneOf(p.Spec.NodeName)] = true
		}
		if len(pods) != simReplicas || len(nodes) != simReplicas || len(zones) != simReplicas {
			t.Errorf("%s: %d Ready pods on nodes %v in zones %v, want %d on distinct nodes and zones", comp, len(pods), slices.Sorted(maps.Keys(nodes)), slices.Sorted(maps.Keys(zones)), simReplicas)
		}
	}
}

// rolloutFlags change every component's pod template.
func rolloutFlags(rev int) []string {
	var out []string
	for _, c := range harborComponents {
		out = append(out, "--set-string", fmt.Sprintf("%s.podAnnotations.sim-rollout=%d", c, rev))
	}
	return out
}

var hardFlags = []string{fmt.Sprintf("--replicas=%d", simReplicas), "--anti-affinity=hard", "--zone-spread",
	"--shared-pvc=harbor-shared", "--create-shared-pvc"}

// TestSimHelm3Chart1191Hard: Helm 3, chart 1.19.1, hard anti-affinity:
// placement, two drains, a rolling upgrade, switchovers.
func TestSimHelm3Chart1191Hard(t *testing.T) { hardScenario(t, 3, "harbor-1.19.1.tgz", 30231) }

func hardScenario(t *testing.T, major int, chart string, nodePort int) {
	s := newSimHarbor(t, major, chart, nodePort, hardFlags...)
	w := s.watch(t)
	s.steps(t, []simStep{
		{"install", func(t *testing.T) { s.install(t, w) }},
		{"placement", s.checkPlacement},
		{"drain", func(t *testing.T) { s.drainTwice(t, w) }},
		{"rolling upgrade", func(t *testing.T) { s.rollingUpgrade(t, w) }},
		{"switchover", s.switchovers},
	})
}

// TestSimValuesAloneDeadlocks (Helm 4, chart 1.19.1): the chart
// configured through values alone (3 core replicas, required anti-affinity
// on the hostname, as many nodes as replicas) cannot roll out a changed
// pod template: the surge pod stays Pending, unschedulable, and `helm
// upgrade --wait` times out. `helm harborha upgrade` of the same release,
// with the same values, replicas and change and its default flags, then
// completes (no surge: maxSurge 0, maxUnavailable 1).
func TestSimValuesAloneDeadlocks(t *testing.T) {
	s := newSimHarbor(t, 4, "harbor-1.19.1.tgz", 30242)
	values := filepath.Join(t.TempDir(), "values.yaml")
	s.h.run(t, 0, "harborha", "values", "-n", s.ns, "--node-port=30242", "-o", values)
	affinity := `{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"harbor","component":"core","release":"myharbor"}},"topologyKey":"kubernetes.io/hostname"}]}}`
	helm := func(wantCode int, cmd string, extra ...string) {
		args := []string{cmd, simRelease, s.chart, "-n", s.ns, "-f", values, "-f", testutil.PinSecrets(t),
			"--set", fmt.Sprintf("core.replicas=%d", simReplicas), "--set-json", "core.affinity=" + affinity,
			"--set", "persistence.enabled=false", "--wait"}
		s.h.run(t, wantCode, append(args, extra...)...)
	}
	helm(0, "install", "--timeout", simInstallTimeout)
	ctx := context.Background()
	before, err := s.c.Typed.AppsV1().Deployments(s.ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if before.Status.ReadyReplicas != simReplicas {
		t.Fatalf("core: %d Ready replicas after install --wait, want %d", before.Status.ReadyReplicas, simReplicas)
	}

	began := time.Now()
	helm(1, "upgrade", "--timeout", simDeadlockTimeout, "--set-string", "core.podAnnotations.sim-rollout=2")
	t.Logf("helm upgrade --wait failed after %s", time.Since(began).Round(100*time.Millisecond))
	surge := s.surgePod(t, "core")
	checkUnschedulable(t, s.c, surge, "didn't match pod anti-affinity rules")
	after, err := s.c.Typed.AppsV1().Deployments(s.ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Status.UpdatedReplicas != 1 || after.Status.ReadyReplicas != simReplicas {
		t.Errorf("core after the timeout: %d updated, %d Ready; want the 1 surge pod updated and the %d old ones Ready (the rollout cannot progress)", after.Status.UpdatedReplicas, after.Status.ReadyReplicas, simReplicas)
	}

	// The same release, values, replicas and change, through harborha with
	// its default flags: the stuck rollout completes.
	w := s.c.WatchReady(t, s.ns, simSelector+",component=core", "component")
	began = time.Now()
	s.h.run(t, 0, "harborha", "upgrade", simRelease, s.chart, "-n", s.ns, "--no-bootstrap", "--node-port=30242",
		"-f", values, "-f", testutil.PinSecrets(t), "--set", fmt.Sprintf("core.replicas=%d", simReplicas), "--set-json", "core.affinity="+affinity,
		"--set", "persistence.enabled=false", "--set-string", "core.podAnnotations.sim-rollout=2", "--wait", "--timeout", simUpgradeTimeout)
	t.Logf("helm harborha upgrade --wait of the same release: %s", time.Since(began).Round(100*time.Millisecond))
	checkMin(t, w, simReplicas-1, "during harborha's rollout", "core")
	done, err := s.c.Typed.AppsV1().Deployments(s.ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := done.Status; st.UpdatedReplicas != simReplicas || st.ReadyReplicas != simReplicas || st.Replicas != simReplicas {
		t.Errorf("core after harborha's upgrade: %d replicas, %d updated, %d Ready; want %d of each", st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, simReplicas)
	}
}

// TestSimHelm4Chart1143Hard: the same on Helm 4 and chart 1.14.3, whose
// pods carry the older labels (no app.kubernetes.io/component).
func TestSimHelm4Chart1143Hard(t *testing.T) { hardScenario(t, 4, "harbor-1.14.3.tgz", 30243) }

type simStep struct {
	name string
	run  func(t *testing.T)
}

// steps runs a scenario's steps as subtests (their times show in -v
// output), stopping at the first that fails.
func (s *simHarbor) steps(t *testing.T, steps []simStep) {
	for _, st := range steps {
		if !t.Run(st.name, st.run) {
			return
		}
	}
}

// drainTwice drains one node (it completes, every component keeps at
// least replicas-1 Ready pods throughout), then a second one (the budgets
// refuse it, no component below 2 Ready), then uncordons both and waits
// for the full count again.
func (s *simHarbor) drainTwice(t *testing.T, w *kubetest.ReadyWatch) {
	ctx := context.Background()
	first, second := s.c.Nodes[0].Name, s.c.Nodes[1].Name
	t.Cleanup(func() {
		for _, n := range []string{first, second} {
			if err := s.c.Uncordon(ctx, n); err != nil {
				t.Error(err)
			}
		}
	})
	waitBudgets(t, s.c, s.ns, 1)
	w.Reset()
	began := time.Now()
	evicted, err := s.c.Drain(ctx, first, s.ns, simSelector, time.Minute)
	if err != nil {
		t.Fatalf("drain %s: %v", first, err)
	}
	t.Logf("drain %s: %d pods evicted in %s", first, len(evicted), time.Since(began).Round(100*time.Millisecond))
	if len(evicted) != len(harborComponents) {
		t.Errorf("drain %s evicted %v, want one pod of each component", first, evicted)
	}
	checkMin(t, w, simReplicas-1, "during the first drain", harborComponents...)
	// The evicted pods' replacements cannot run beside their peers (hard
	// anti-affinity, two schedulable nodes): every budget is now spent.
	waitBudgets(t, s.c, s.ns, 0)

	evicted, err = s.c.Drain(ctx, second, s.ns, simSelector, 5*time.Second)
	if len(evicted) != 0 || !apierrors.IsTooManyRequests(err) {
		t.Errorf("second drain (%s): evicted %v, error %v; want every eviction refused by the budgets (429)", second, evicted, err)
	}
	checkMin(t, w, simReplicas-1, "during the refused second drain", harborComponents...)

	for _, n := range []string{first, second} {
		if err := s.c.Uncordon(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	w.Wait(t, time.Minute, "every component back to full strength after uncordon", func(r map[string]int) bool { return equalCounts(r, simReplicas) })
}

// checkMin: since the last Reset every component's fewest Ready pods were
// exactly n: never fewer (what the budgets and maxUnavailable promise),
// and not more either, which proves the watch saw the step's one pod down.
func checkMin(t *testing.T, w *kubetest.ReadyWatch, n int, when string, comps ...string) {
	t.Helper()
	min := w.Min()
	for _, c := range comps {
		if min[c] != n {
			t.Errorf("%s: the fewest Ready pods of %s were %d (per component: %v), want %d", when, c, min[c], min, n)
		}
	}
}

// waitBudgets waits until every budget of the release allows n
// disruptions, as the disruption controller computes it.
func waitBudgets(t *testing.T, c *kubetest.Cluster, ns string, n int32) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := c.Typed.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{LabelSelector: simSelector})
		if err != nil || len(list.Items) != len(harborComponents) {
			last = fmt.Sprintf("%d budgets (%v)", len(list.Items), err)
			return false, nil
		}
		var wrong []string
		for _, b := range list.Items {
			if b.Status.ObservedGeneration != b.Generation || b.Status.DisruptionsAllowed != n {
				wrong = append(wrong, fmt.Sprintf("%s allows %d", b.Name, b.Status.DisruptionsAllowed))
			}
		}
		last = strings.Join(wrong, ", ")
		return len(wrong) == 0, nil
	})
	if err != nil {
		t.Fatalf("budgets of %s: want %d disruptions allowed each, got: %s", ns, n, last)
	}
}

// rollingUpgrade changes every pod template through `helm harborha
// upgrade --wait`: with hard anti-affinity and as many nodes as replicas
// it completes, every component keeping replicas-1 Ready pods, and the new
// pods land on distinct nodes again.
func (s *simHarbor) rollingUpgrade(t *testing.T, w *kubetest.ReadyWatch) {
	w.Reset()
	began := time.Now()
	s.harborha(t, 0, "upgrade", append([]string{"--wait", "--timeout", simUpgradeTimeout}, rolloutFlags(2)...)...)
	t.Logf("helm harborha upgrade --wait (every component rolled): %s", time.Since(began).Round(100*time.Millisecond))
	checkMin(t, w, simReplicas-1, "during the rolling upgrade", harborComponents...)
	for comp, pods := range s.readyPods(t) {
		for _, p := range pods {
			if p.Annotations["sim-rollout"] != "2" {
				t.Errorf("%s: pod %s still has the old template", comp, p.Name)
			}
		}
	}
	s.checkPlacement(t)
}

// surgePod is the one pod of a component's new template (annotation
// sim-rollout=2).
func (s *simHarbor) surgePod(t *testing.T, comp string) *corev1.Pod {
	t.Helper()
	pods, err := s.c.Typed.CoreV1().Pods(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: simSelector + ",component=" + comp})
	if err != nil {
		t.Fatal(err)
	}
	var found []*corev1.Pod
	for i, p := range pods.Items {
		if p.Annotations["sim-rollout"] == "2" {
			found = append(found, &pods.Items[i])
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d pods of the new template, want the one surge pod", comp, len(found))
	}
	return found[0]
}

// checkUnschedulable: the pod is Pending, unbound, marked Unschedulable by
// the scheduler, with a FailedScheduling event that says why.
func checkUnschedulable(t *testing.T, c *kubetest.Cluster, p *corev1.Pod, why string) {
	t.Helper()
	if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Errorf("pod %s: phase %s on node %q, want Pending and unbound", p.Name, p.Status.Phase, p.Spec.NodeName)
	}
	unschedulable := false
	for _, cond := range p.Status.Conditions {
		unschedulable = unschedulable || (cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable)
	}
	if !unschedulable {
		t.Errorf("pod %s: no PodScheduled=False/Unschedulable condition: %+v", p.Name, p.Status.Conditions)
	}
	events, err := c.Typed.CoreV1().Events(p.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + p.Name + ",reason=FailedScheduling"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if strings.Contains(e.Message, why) {
			t.Logf("pod %s: FailedScheduling: %s", p.Name, e.Message)
			return
		}
	}
	t.Errorf("pod %s: no FailedScheduling event saying %q (%d FailedScheduling events)", p.Name, why, len(events.Items))
}

// switchovers moves the primary role of the PostgreSQL and then of the
// Redis fixture cluster, as KubeBlocks does on failover.
func (s *simHarbor) switchovers(t *testing.T) {
	s.switchover(t, "mypg-postgresql-postgresql", "mypg-postgresql-0", "mypg-postgresql-1", func(cm map[string]string) string { return cm["POSTGRESQL_HOST"] })
	s.switchover(t, "myredis-redis-redis", "myredis-redis-0", "myredis-redis-1", func(cm map[string]string) string {
		return hostOf(cm["_REDIS_URL_CORE"])
	})
}

// hostOf is the host of a redis://user:password@host:port/db URL.
func hostOf(url string) string {
	rest := url[strings.LastIndex(url, "@")+1:]
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		return rest[:i]
	}
	return rest
}

// switchover moves the kubeblocks.io/role=primary label from one pod to
// the other: the primary Service's endpoints must follow within seconds,
// while the address in Harbor's configuration (the Service's ClusterIP)
// and Harbor's ConfigMaps and pods stay as they are.
func (s *simHarbor) switchover(t *testing.T, service, from, to string, configured func(map[string]string) string) {
	t.Helper()
	ctx := context.Background()
	svc, err := s.c.Typed.CoreV1().Services(s.ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cms := s.configMaps(t)
	if got := configured(cms["myharbor-core"].Data); got != svc.Spec.ClusterIP {
		t.Fatalf("Harbor's configured address for %s is %q, want the Service's ClusterIP %s", service, got, svc.Spec.ClusterIP)
	}
	oldIP, newIP := s.podIP(t, from), s.podIP(t, to)
	s.waitEndpoints(t, service, oldIP)
	s.setRole(t, from, "secondary")
	s.setRole(t, to, "primary")
	began := time.Now()
	s.waitEndpoints(t, service, newIP)
	t.Logf("%s: endpoints moved from %s (%s) to %s (%s) in %s", service, from, oldIP, to, newIP, time.Since(began).Round(10*time.Millisecond))
	after := s.configMaps(t)
	for name, cm := range cms {
		if after[name].ResourceVersion != cm.ResourceVersion {
			t.Errorf("ConfigMap %s changed during the switchover", name)
		}
	}
	if got := configured(after["myharbor-core"].Data); got != svc.Spec.ClusterIP || got == oldIP {
		t.Errorf("after the switchover Harbor's address is %q, want the unchanged ClusterIP %s", got, svc.Spec.ClusterIP)
	}
}

func (s *simHarbor) configMaps(t *testing.T) map[string]corev1.ConfigMap {
	t.Helper()
	list, err := s.c.Typed.CoreV1().ConfigMaps(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: simSelector})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("Harbor's ConfigMaps: %d, %v", len(list.Items), err)
	}
	out := map[string]corev1.ConfigMap{}
	for _, cm := range list.Items {
		out[cm.Name] = cm
	}
	return out
}

func (s *simHarbor) podIP(t *testing.T, pod string) string {
	t.Helper()
	p, err := s.c.Typed.CoreV1().Pods(s.ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil || !kube.PodReady(p) || p.Status.PodIP == "" {
		t.Fatalf("fixture pod %s: want it Ready with an IP (scheduled, and made Ready by kwok): %v", pod, err)
	}
	return p.Status.PodIP
}

// setRole relabels a fixture pod's kubeblocks.io/role.
func (s *simHarbor) setRole(t *testing.T, pod, role string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{"kubeblocks.io/role":%q}}}`, role)
	if _, err := s.c.Typed.CoreV1().Pods(s.ns).Patch(context.Background(), pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitEndpoints waits until the Service's EndpointSlices hold exactly one
// ready endpoint, ip.
func (s *simHarbor) waitEndpoints(t *testing.T, service, ip string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		slices, err := s.c.Typed.DiscoveryV1().EndpointSlices(s.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
		if err != nil {
			return false, nil
		}
		got = readyAddresses(slices.Items)
		return len(got) == 1 && got[0] == ip, nil
	})
	if err != nil {
		t.Fatalf("Service %s: ready endpoints %v, want only %s", service, got, ip)
	}
}

func readyAddresses(slices []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				out = append(out, ep.Addresses...)
			}
		}
	}
	return out
}

// TestSimHelm4Chart1191SoftNodeLoss: Helm 4, chart 1.19.1 with harborha's
// default soft anti-affinity: placement, then the loss of a node.
func TestSimHelm4Chart1191SoftNodeLoss(t *testing.T) {
	s := newSimHarbor(t, 4, "harbor-1.19.1.tgz", 30244, fmt.Sprintf("--replicas=%d", simReplicas), "--zone-spread",
		"--shared-pvc=harbor-shared", "--create-shared-pvc")
	w := s.watch(t)
	s.steps(t, []simStep{
		{"install", func(t *testing.T) { s.install(t, w) }},
		{"placement", s.checkPlacement},
		{"node loss", s.nodeLoss},
	})
}

// nodeLoss stops a node's kubelet (kwok): after the grace period the node
// is NotReady, its pods are evicted, and every Deployment's replacements
// are Ready on the remaining nodes. The StatefulSet's pod (trivy) stays
// Terminating, as on a real cluster, until the operator marks the node
// out of service (node.kubernetes.io/out-of-service, the non-graceful
// node shutdown procedure); then it is replaced too.
func (s *simHarbor) nodeLoss(t *testing.T) {
	ctx := context.Background()
	lost := s.c.Nodes[2].Name
	outOfService := corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}
	began := time.Now()
	s.c.StopNode(t, lost)
	t.Cleanup(func() {
		if err := s.c.Untaint(ctx, lost, outOfService.Key); err != nil {
			t.Error(err)
		}
		s.c.StartNode(t, lost)
	})
	s.c.WaitNodeReady(t, lost, false)
	t.Logf("node %s not Ready %s after its kubelet stopped", lost, time.Since(began).Round(100*time.Millisecond))
	deployments := slices.DeleteFunc(slices.Clone(harborComponents), func(c string) bool { return c == "trivy" })
	s.waitReadyOff(t, lost, deployments)
	t.Logf("every Deployment's replicas Ready off %s, %s after the loss", lost, time.Since(began).Round(100*time.Millisecond))
	s.waitTerminating(t, lost, "trivy")
	if n := len(s.readyPodsOff(t, lost)["trivy"]); n != simReplicas-1 {
		t.Errorf("trivy: %d Ready pods off the lost node, want %d: its lost pod stays until the node is out of service", n, simReplicas-1)
	}
	if err := s.c.Taint(ctx, lost, outOfService); err != nil {
		t.Fatal(err)
	}
	s.waitReadyOff(t, lost, harborComponents)
	t.Logf("trivy replaced too, %s after the loss", time.Since(began).Round(100*time.Millisecond))
}

// waitTerminating waits until the component's pod on node is being
// deleted (evicted by the taint manager) and returns: nothing on a lost
// node can confirm its end.
func (s *simHarbor) waitTerminating(t *testing.T, node, comp string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := s.c.Typed.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: simSelector + ",component=" + comp, FieldSelector: "spec.nodeName=" + node})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].DeletionTimestamp != nil, nil
	})
	if err != nil {
		t.Fatalf("%s: no pod being deleted on the lost node %s", comp, node)
	}
}

// readyPodsOff are the Ready pods by component that do not run on node.
func (s *simHarbor) readyPodsOff(t *testing.T, node string) map[string][]corev1.Pod {
	t.Helper()
	out := map[string][]corev1.Pod{}
	for comp, pods := range s.readyPods(t) {
		for _, p := range pods {
			if p.Spec.NodeName != node {
				out[comp] = append(out[comp], p)
			}
		}
	}
	return out
}

// waitReadyOff waits until each of comps has all its replicas Ready on
// nodes other than node.
func (s *simHarbor) waitReadyOff(t *testing.T, node string, comps []string) {
	t.Helper()
	var off map[string][]corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		off = s.readyPodsOff(t, node)
		for _, c := range comps {
			if len(off[c]) != simReplicas {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		counts := map[string]int{}
		for c, pods := range off {
			counts[c] = len(pods)
		}
		t.Fatalf("Ready pods off node %s: %v, want %d of each of %v", node, counts, simReplicas, comps)
	}
}
