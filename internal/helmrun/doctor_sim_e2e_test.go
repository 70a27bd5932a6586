package helmrun_test

import (
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/harborha/helm-harborha/internal/doctor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe/probetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// `helm harborha doctor` and the preflight on the simulated cluster: a
// release installed with the wrapper (Helm 3, chart 1.19.1, 3 replicas with
// hard anti-affinity on 3 nodes in 3 zones), then doctor on it as it is
// broken and mended one way after another: healthy, the drill, a budget
// at 0, a cordoned node leaving a pod Pending, database pods on one node,
// a switchover, a Service recreated with a new ClusterIP.

// doctorRun runs `helm harborha doctor myharbor -n NS -o json` with extra
// flags and returns the report.
func (s *simHarbor) doctorRun(t *testing.T, wantCode int, extra ...string) *doctor.Report {
	t.Helper()
	began := time.Now()
	out, _ := s.h.run(t, wantCode, append([]string{"harborha", "doctor", simRelease, "-n", s.ns, "-o", "json"}, extra...)...)
	t.Logf("helm harborha doctor %s: exit %d in %s", strings.Join(extra, " "), wantCode, time.Since(began).Round(10*time.Millisecond))
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out)
	}
	return &r
}

// finding is a check doctor must report as not ok, with words of its message.
type finding struct {
	subject, check string
	says           string
}

// expect: exactly these checks are not ok, each with its words.
func expect(t *testing.T, r *doctor.Report, want ...finding) {
	t.Helper()
	seen := map[int]bool{}
	for _, w := range want {
		found := false
		for i, c := range r.Checks {
			if !seen[i] && c.Status != doctor.OK && c.Subject == w.subject && c.Check == w.check && strings.Contains(c.Message, w.says) {
				seen[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s %s check saying %q", w.subject, w.check, w.says)
		}
	}
	for i, c := range r.Checks {
		if !seen[i] && c.Status != doctor.OK {
			t.Errorf("unexpected %s: %s %s: %s", c.Status, c.Subject, c.Check, c.Message)
		}
		if t.Failed() && c.Status != doctor.OK {
			t.Logf("doctor: %s %s %s: %s", c.Status, c.Subject, c.Check, c.Message)
		}
	}
	if len(r.Checks) < 30 {
		t.Errorf("only %d checks: %+v", len(r.Checks), r.Checks)
	}
}

func TestSimDoctor(t *testing.T) {
	s := newSimHarbor(t, 3, "harbor-1.19.1.tgz", 30251, hardFlags...)
	pg, redis := "PostgreSQL "+s.ns+"/mypg", "Redis "+s.ns+"/myredis"
	s.steps(t, []simStep{
		{"install", func(t *testing.T) { s.install(t, s.watch(t)); s.spreadFixturePods(t) }},
		{"healthy", func(t *testing.T) { expect(t, s.doctorRun(t, 0)) }},
		{"Redis address in env and ConfigMaps", s.redisAddressBothPlaces},
		{"drill", s.drill},
		{"budget at 0", func(t *testing.T) {
			s.patchBudget(t, "myharbor-portal", `{"spec":{"maxUnavailable":null,"minAvailable":3}}`, 0)
			expect(t, s.doctorRun(t, 1), finding{"portal", "budget", "PodDisruptionBudget myharbor-portal allows 0 disruptions (minAvailable 3; 3 of 3 pods healthy, 3 needed)"})
			s.patchBudget(t, "myharbor-portal", `{"spec":{"minAvailable":null,"maxUnavailable":1}}`, 1)
		}},
		{"cordoned node, pod Pending", s.cordonedPending},
		{"database pods on one node", func(t *testing.T) {
			node := s.nodeOf(t, "mypg-postgresql-0")
			s.placePod(t, "mypg-postgresql-1", node)
			expect(t, s.doctorRun(t, 1), finding{pg, "placement", "pods mypg-postgresql-0, mypg-postgresql-1 of component postgresql share node " + node})
			s.placePod(t, "mypg-postgresql-1", otherNode(node))
			expect(t, s.doctorRun(t, 0))
		}},
		{"switchover", func(t *testing.T) {
			s.switchovers(t)
			expect(t, s.doctorRun(t, 0))
		}},
		{"stale ClusterIP", func(t *testing.T) {
			ip := s.recreateService(t, "myredis-redis-redis")
			expect(t, s.doctorRun(t, 1), finding{redis, "address", "is the address of no Service in namespace " + s.ns + ": Harbor reaches nothing (a Service recreated with a new ClusterIP?); discovery chooses Service myredis-redis-redis at " + ip + ":6379"})
		}},
	})
}

// redisAddressBothPlaces: the post-renderer writes each Redis URL twice,
// into the chart's ConfigMaps without its password and into the
// containers' env with $(HARBORHA_REDIS_PASSWORD); doctor finds the
// address in either. With the ConfigMaps' Redis keys removed (nothing
// rolls out: no controller watches them) it is found in core's env; then
// the keys are put back.
func (s *simHarbor) redisAddressBothPlaces(t *testing.T) {
	ctx := context.Background()
	if got := redisAddressCheck(t, s.doctorRun(t, 0)); !strings.Contains(got, "(ConfigMap myharbor-core key _REDIS_URL_CORE and ") {
		t.Errorf("healthy release: the Redis address check says %q, want it read from the ConfigMaps first", got)
	}
	saved := s.configMaps(t)
	cms := s.c.Typed.CoreV1().ConfigMaps(s.ns)
	edit := func(data func(cm corev1.ConfigMap) map[string]string) {
		for name := range saved {
			cm, err := cms.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cm.Data = data(saved[name])
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	edit(func(cm corev1.ConfigMap) map[string]string {
		out := map[string]string{}
		for k, v := range cm.Data {
			if !strings.Contains(v, "redis") {
				out[k] = v
			}
		}
		return out
	})
	defer edit(func(cm corev1.ConfigMap) map[string]string { return cm.Data })
	if got := redisAddressCheck(t, s.doctorRun(t, 0)); !strings.Contains(got, "(Deployment myharbor-core container core env _REDIS_URL_CORE and ") {
		t.Errorf("no Redis URL in the ConfigMaps: the Redis address check says %q, want it read from core's env", got)
	}
}

// redisAddressCheck is the message of the report's ok Redis address check.
func redisAddressCheck(t *testing.T, r *doctor.Report) string {
	t.Helper()
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Subject, "Redis ") && c.Check == "address" {
			if c.Status != doctor.OK {
				t.Errorf("Redis address: %s: %s", c.Status, c.Message)
			}
			return c.Message
		}
	}
	t.Fatal("doctor checked no Redis address")
	return ""
}

// spreadFixturePods places the KubeBlocks fixture pods on distinct nodes
// per component (the scheduler placed them where it liked).
func (s *simHarbor) spreadFixturePods(t *testing.T) {
	for pod, node := range map[string]string{"mypg-postgresql-0": "node-1", "mypg-postgresql-1": "node-2", "myredis-redis-0": "node-1", "myredis-redis-1": "node-2", "myredis-redis-sentinel-0": "node-3"} {
		s.placePod(t, pod, node)
	}
}

func otherNode(node string) string {
	if node == "node-1" {
		return "node-2"
	}
	return "node-1"
}

func (s *simHarbor) nodeOf(t *testing.T, pod string) string {
	t.Helper()
	p, err := s.c.Typed.CoreV1().Pods(s.ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Spec.NodeName
}

// placePod recreates a fixture pod (it has no controller) bound to node,
// and waits until it is Ready there and its Service endpoints follow.
func (s *simHarbor) placePod(t *testing.T, name, node string) {
	t.Helper()
	ctx := context.Background()
	pods := s.c.Typed.CoreV1().Pods(s.ns)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName == node {
		return
	}
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod "+name+" deleted", func(ctx context.Context) bool {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	np := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: p.Labels, Annotations: p.Annotations}, Spec: p.Spec}
	np.Spec.NodeName = node
	if _, err := pods.Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod "+name+" Ready on "+node, func(ctx context.Context) bool {
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil && kube.PodReady(got)
	})
	if p.Labels["kubeblocks.io/role"] == "primary" {
		svc := map[string]string{"mypg": "mypg-postgresql-postgresql", "myredis": "myredis-redis-redis"}[p.Labels["app.kubernetes.io/instance"]]
		s.waitEndpoints(t, svc, s.podIP(t, name))
	}
}

func waitFor(t *testing.T, what string, cond func(context.Context) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) { return cond(ctx), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// drill: without a terminal and without --yes it refuses and deletes
// nothing; with --yes every component is back at 3 Ready pods, never
// below 2. Harbor does not run on kwok: the drill's probe goes to a fake
// one (internal/probe/probetest) that takes the chart's default admin
// password, which doctor reads from the release's core Secret.
func (s *simHarbor) drill(t *testing.T) {
	fake := probetest.NewHarbor(t, "Harbor12345")
	before := s.podUIDs(t)
	_, stderr := s.h.run(t, 2, "harborha", "doctor", simRelease, "-n", s.ns, "--drill", "--harbor-url", fake.URL)
	if ours := ourLines(stderr, "harborha doctor:"); len(ours) != 1 || !strings.Contains(ours[0], "--drill deletes one pod of each of core, portal, registry, jobservice, nginx, trivy: confirm on a terminal, or pass --yes") {
		t.Errorf("want one line refusing the drill, stderr:\n%s", stderr)
	}
	if after := s.podUIDs(t); after != before {
		t.Errorf("the refused drill changed the pods:\n%s\n%s", before, after)
	}
	r := s.doctorRun(t, 0, "--drill", "--yes", "--timeout=2m", "--settle=1s", "--harbor-url", fake.URL)
	if len(r.Drill) != len(harborComponents) {
		t.Fatalf("drill results %+v, want one per component", r.Drill)
	}
	for _, d := range r.Drill {
		if d.Status != doctor.OK || d.Desired != simReplicas || d.MinReady < simReplicas-1 || d.Pod == "" {
			t.Errorf("%s: %+v, want ok with never fewer than %d Ready", d.Component, d, simReplicas-1)
		}
		if d.Figures == nil || d.Requests == 0 || d.FailedRequests != 0 {
			t.Errorf("%s: the probe's figures %+v", d.Component, d.Figures)
		}
		t.Logf("drill %s: %s", d.Component, d.Message)
	}
	expect(t, r)
}

func (s *simHarbor) podUIDs(t *testing.T) string {
	t.Helper()
	pods, err := s.c.Typed.CoreV1().Pods(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: simSelector})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	slices.Sort(uids)
	return strings.Join(uids, ",")
}

// patchBudget patches a budget and waits until it allows n disruptions.
func (s *simHarbor) patchBudget(t *testing.T, name, patch string, n int32) {
	t.Helper()
	budgets := s.c.Typed.PolicyV1().PodDisruptionBudgets(s.ns)
	if _, err := budgets.Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitBudget(t, name, n)
}

// waitBudget waits until the disruption controller lets a budget allow n
// disruptions.
func (s *simHarbor) waitBudget(t *testing.T, name string, n int32) {
	t.Helper()
	budgets := s.c.Typed.PolicyV1().PodDisruptionBudgets(s.ns)
	waitFor(t, fmt.Sprintf("budget %s to allow %d disruptions", name, n), func(ctx context.Context) bool {
		b, err := budgets.Get(ctx, name, metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.DisruptionsAllowed == n
	})
}

// cordonedPending: node-3 cordoned and core's pod there deleted, its
// replacement cannot be placed (hard anti-affinity, the other two nodes
// taken): doctor names it with the scheduler's reason, and the budget that
// now blocks the next drain.
func (s *simHarbor) cordonedPending(t *testing.T) {
	ctx := context.Background()
	if err := s.c.Cordon(ctx, "node-3"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.c.Uncordon(ctx, "node-3") })
	pods := s.c.Typed.CoreV1().Pods(s.ns)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: simSelector + ",component=core", FieldSelector: "spec.nodeName=node-3"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("core pods on node-3: %d, %v", len(list.Items), err)
	}
	if err := pods.Delete(ctx, list.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var pending string
	waitFor(t, "a core pod Pending with a FailedScheduling event", func(ctx context.Context) bool {
		l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: simSelector + ",component=core", FieldSelector: "status.phase=Pending"})
		if err != nil || len(l.Items) != 1 {
			return false
		}
		pending = l.Items[0].Name
		ev, err := s.c.Typed.CoreV1().Events(s.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pending + ",reason=FailedScheduling"})
		return err == nil && len(ev.Items) > 0
	})
	s.waitBudget(t, "myharbor-core", 0)
	time.Sleep(1500 * time.Millisecond) // older than --pending-after=1s
	r := s.doctorRun(t, 1, "--pending-after=1s")
	expect(t, r,
		finding{"core", "replicas", "2 of 3 replicas Ready"},
		finding{"core", "pending", "pod " + pending + " Pending for"},
		finding{"core", "budget", "PodDisruptionBudget myharbor-core allows 0 disruptions (maxUnavailable 1; 2 of 3 pods healthy, 2 needed)"})
	// The scheduler's own reason, from its FailedScheduling event.
	for _, c := range r.Checks {
		if c.Check == "pending" && c.Subject == "core" && !(strings.Contains(c.Message, "not scheduled: 0/3 nodes are available") &&
			strings.Contains(c.Message, "node(s) were unschedulable") && strings.Contains(c.Message, "didn't match pod anti-affinity rules")) {
			t.Errorf("the pending finding does not give the scheduler's reason: %s", c.Message)
		}
	}
	if err := s.c.Uncordon(ctx, "node-3"); err != nil {
		t.Fatal(err)
	}
	w := s.c.WatchReady(t, s.ns, simSelector, "component")
	w.Wait(t, time.Minute, "core back at 3 Ready pods", func(r map[string]int) bool { return equalCounts(r, simReplicas) })
}

// recreateService deletes a Service and creates it again without its
// ClusterIP, as a careless re-apply does: the API server allocates a new
// one. It waits for the new Service's endpoints and returns its address.
func (s *simHarbor) recreateService(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	services := s.c.Typed.CoreV1().Services(s.ns)
	old, err := services.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := services.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: old.Labels}, Spec: old.Spec}
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	created, err := services.Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.ClusterIP == old.Spec.ClusterIP {
		t.Fatalf("the recreated Service got its old ClusterIP %s again", old.Spec.ClusterIP)
	}
	waitFor(t, "the endpoints of the recreated Service", func(ctx context.Context) bool {
		l, err := s.c.Typed.DiscoveryV1().EndpointSlices(s.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		return err == nil && len(readyAddresses(l.Items)) == 1
	})
	return created.Spec.ClusterIP
}

// TestSimPreflight: with a node cordoned, an install with hard
// anti-affinity and 3 replicas is refused in one line before anything is
// created (bootstrap is not skipped: it never starts); a StorageClass that
// does not exist is refused too; with the node back, the same install runs.
func TestSimPreflight(t *testing.T) {
	s := newSimHarbor(t, 4, "harbor-1.19.1.tgz", 30252)
	ctx := context.Background()
	if err := s.c.Cordon(ctx, "node-2"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.c.Uncordon(ctx, "node-2") })
	base := []string{"harborha", "install", simRelease, s.chart, "-n", s.ns, "--node-port=30252", "-f", testutil.PinSecrets(t),
		"--replicas=3", "--anti-affinity=hard", "--shared-pvc=harbor-shared", "--create-shared-pvc"}
	for _, tt := range []struct {
		extra []string
		want  string
	}{
		{nil, "harborha install: preflight: hard anti-affinity needs 3 schedulable nodes for core's 3 replicas, the cluster has 2 (node-2 is cordoned): add nodes, lower --replicas, or use --anti-affinity soft; nothing was created"},
		{[]string{"--storage-class=no-such-class"}, "harborha install: preflight: --storage-class no-such-class does not exist"},
	} {
		_, stderr := s.h.run(t, 1, append(base, tt.extra...)...)
		if ours := ourLines(stderr, "harborha install:"); len(ours) != 1 || !strings.HasPrefix(ours[0], tt.want) {
			t.Errorf("want one error line starting %q, stderr:\n%s", tt.want, stderr)
		}
		if strings.Contains(stderr, "harborha: discovering") || strings.Contains(stderr, "bootstrapping") {
			t.Errorf("the refused install went on:\n%s", stderr)
		}
		s.checkNothingCreated(t)
	}
	// Nodes back: the preflight lets it through (bootstrap skipped only
	// because nothing runs its Jobs' databases here).
	if err := s.c.Uncordon(ctx, "node-2"); err != nil {
		t.Fatal(err)
	}
	_, stderr := s.h.run(t, 0, append(base, "--no-bootstrap", "--wait", "--timeout", simInstallTimeout)...)
	if strings.Contains(stderr, "preflight") {
		t.Errorf("preflight spoke on a cluster that fits:\n%s", stderr)
	}
}

// checkNothingCreated: no release, no bootstrap Secret or Job, no pod of
// the release.
func (s *simHarbor) checkNothingCreated(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	// Helm keeps each release revision in a Secret labelled owner=helm.
	if rel, err := s.c.Typed.CoreV1().Secrets(s.ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"}); err != nil || len(rel.Items) != 0 {
		t.Errorf("Helm release records: %d, %v", len(rel.Items), err)
	}
	if _, err := s.c.Typed.CoreV1().Secrets(s.ns).Get(ctx, simRelease+"-harborha-db", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the bootstrap Secret exists (or: %v)", err)
	}
	jobs, err := s.c.Typed.BatchV1().Jobs(s.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 0 {
		t.Errorf("jobs: %d, %v", len(jobs.Items), err)
	}
	pods, err := s.c.Typed.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: simSelector})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("release pods: %d, %v", len(pods.Items), err)
	}
}

// ourLines are the lines of stderr with harborha's prefix (Helm adds its own).
func ourLines(stderr, prefix string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
