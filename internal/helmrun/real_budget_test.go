package helmrun_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/probe"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The connection budget on the real node (issue 21): a PostgreSQL cluster
// with a small max_connections, Harbor with 3 core replicas (the other
// components 1, trivy off: the least that shows it), installed by
// `helm harborha install` (bootstrap's Job reads max_connections, the
// post-renderer sizes the pools to it), then parallel pushes: none refused
// with "too many clients". Then core's pools set back to the chart's
// defaults (maxOpenConns 900, maxIdleConns 100, Harbor's 5m lifetime) and
// the same pushes: PostgreSQL refuses logins.
const (
	budgetMaxConnections = 34 // (34 - 10 reserve) / (core 3+1 + jobservice 1+1 pods) = 4 per pod
	budgetPushes         = 32
	budgetPool           = "4"
)

func TestRealBudget(t *testing.T) {
	testutil.SkipShort(t, "the real node")
	values := filepath.Join(kubetest.ImagesDir(), "harbor-values.yaml")
	if _, err := os.Stat(values); err != nil {
		testutil.Missing(t, "%s (run `make harbor-images`, or set HARBORHA_IMAGES)", values)
	}
	began := time.Now()
	c := kubetest.StartRealCluster(t)
	for _, img := range []string{"tools", "nginx-photon", "harbor-core", "registry-photon"} {
		c.Image(t, img)
	}
	c.EnsureNamespace(t, realNS)
	r := &realHarbor{c: c, chart: testutil.Chart(t, "harbor-1.19.1.tgz"), values: values, tools: c.Image(t, "tools"),
		url: fmt.Sprintf("http://%s:%d", kubetest.NodeIP, realNodePort)}
	r.pg = c.KubeBlocksCluster(t, realNS, "mypg", kubetest.PostgreSQL)
	r.pg.SetMaxConnections(t, budgetMaxConnections)
	r.rd = c.KubeBlocksCluster(t, realNS, "myredis", kubetest.Redis)
	c.AddVolumes(t, corev1.ReadWriteMany, "10Gi", 1)
	t.Logf("environment ready in %v (max_connections %d)", time.Since(began).Round(time.Second), budgetMaxConnections)

	h := installPlugin(t, 3)
	h.env = append(h.env, "KUBECONFIG="+r.c.Kubeconfig)
	installed := time.Now()
	_, stderr := h.run(t, 0, "harborha", "install", realRelease, r.chart, "--wait", "--timeout", realInstallTimeout,
		"-n", realNS, "--psql-image", r.tools, "--redis-image", r.tools, "--shared-pvc", realClaim, "--create-shared-pvc",
		"--replicas", "1,core=3", fmt.Sprintf("--node-port=%d", realNodePort), "-f", r.values, "--set", "trivy.enabled=false")
	t.Logf("helm harborha install --wait: %v", time.Since(installed).Round(100*time.Millisecond))
	if !strings.Contains(stderr, fmt.Sprintf("max_connections %d", budgetMaxConnections)) {
		t.Errorf("bootstrap did not report the cluster's max_connections %d:\n%s", budgetMaxConnections, stderr)
	}
	if got := r.coreEnv(t, "POSTGRESQL_MAX_OPEN_CONNS"); got != budgetPool {
		t.Fatalf("core's POSTGRESQL_MAX_OPEN_CONNS is %q, want %s: (%d - 10) / 6 pods", got, budgetPool, budgetMaxConnections)
	}

	ours := r.pushLoad(t, "ours")
	r.chartPools(t)
	chart := r.pushLoad(t, "chart")
	t.Logf("max_connections %d, %d parallel pushes: ours %s; the chart's defaults %s", budgetMaxConnections, budgetPushes, ours, chart)
	if ours.refused > 0 || ours.failed > 0 {
		t.Errorf("with pools sized to max_connections: %s", ours)
	}
	if chart.refused == 0 {
		t.Errorf("with the chart's pools (900 per pod) no login was refused (%s): the proof shows nothing", chart)
	}
	t.Logf("TestRealBudget: %v", time.Since(began).Round(time.Second))
}

// budgetLoad is what one round of parallel pushes met.
type budgetLoad struct {
	failed, refused int // failed pushes; logins PostgreSQL refused for want of slots (core's log)
	peak            int // most connections of Harbor's role seen at once
	took            time.Duration
	firstError      string
}

func (l budgetLoad) String() string {
	s := fmt.Sprintf("%d of %d pushes failed, %d logins refused for want of slots in core's logs, peak %d connections of role harbor, %v",
		l.failed, budgetPushes, l.refused, l.peak, l.took.Round(time.Millisecond))
	if l.firstError != "" {
		s += " (first error: " + l.firstError + ")"
	}
	return s
}

// pushLoad pushes budgetPushes images at once while it samples Harbor's
// connections, then counts the refused logins in core's logs.
func (r *realHarbor) pushLoad(t *testing.T, repo string) budgetLoad {
	p := r.login(t, "harborha-budget-"+repo)
	since := metav1.Now()
	var l budgetLoad
	stop := make(chan struct{})
	sampled := make(chan int)
	primary := r.pg.Primary(t)
	go func() { sampled <- r.samplePeak(stop, primary) }()
	began := time.Now()
	pushes := make([]probe.Request, budgetPushes)
	var wg sync.WaitGroup
	for i := range budgetPushes {
		wg.Go(func() { pushes[i] = p.Push(context.Background()) })
	}
	wg.Wait()
	l.took = time.Since(began)
	close(stop)
	l.peak = <-sampled
	for _, rq := range pushes {
		if rq.Failed() {
			l.failed++
			if l.firstError == "" {
				l.firstError = rq.Err
			}
		}
	}
	for _, pod := range r.podsOf(t, "core") {
		logs := r.logs(t, pod.Name, "core", &since)
		for _, refusal := range slotsTaken {
			l.refused += strings.Count(logs, refusal)
		}
	}
	return l
}

// slotsTaken are PostgreSQL's two refusals of a login when its
// connection slots are taken (both SQLSTATE 53300): every slot ("sorry,
// too many clients already"), or all but superuser_reserved_connections'
// (which a .ci/run met first, and counted none of the other).
var slotsTaken = []string{"too many clients", "remaining connection slots are reserved"}

// samplePeak polls pg_stat_activity on the primary (pod primary) until
// stop and returns the most connections of Harbor's role it saw.
func (r *realHarbor) samplePeak(stop <-chan struct{}, primary int) int {
	peak := 0
	for {
		select {
		case <-stop:
			return peak
		case <-time.After(200 * time.Millisecond):
		}
		var n int
		// A refused sample (no slot for the superuser either) counts nothing.
		out, err := r.c.Exec(context.Background(), realNS, r.pg.Pod(primary), "postgresql",
			"psql", "-h", "/var/run/postgresql", "-U", "postgres", "-AtX", "-c", "SELECT count(*) FROM pg_stat_activity WHERE usename = 'harbor'")
		if err == nil {
			_, _ = fmt.Sscan(strings.TrimSpace(out), &n)
		}
		peak = max(peak, n)
	}
}

// coreEnv is a literal env value of core's container.
func (r *realHarbor) coreEnv(t *testing.T, name string) string {
	t.Helper()
	d, err := r.c.Typed.AppsV1().Deployments(realNS).Get(context.Background(), realRelease+"-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// chartPools sets core's pools back to the chart's defaults (its
// ConfigMap's 900 and 100, Harbor's 5m lifetime) and waits for the rollout.
func (r *realHarbor) chartPools(t *testing.T) {
	t.Helper()
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"core","env":[` +
		`{"name":"POSTGRESQL_MAX_OPEN_CONNS","value":"900"},{"name":"POSTGRESQL_MAX_IDLE_CONNS","value":"100"},` +
		`{"name":"POSTGRESQL_CONN_MAX_LIFETIME","value":"5m"}]}]}}}}`
	deps := r.c.Typed.AppsV1().Deployments(realNS)
	d, err := deps.Patch(context.Background(), realRelease+"-core", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err = wait.PollUntilContextTimeout(context.Background(), time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := deps.Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil || cur.Status.ObservedGeneration < d.Generation {
			return false, nil
		}
		st := cur.Status
		return st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 && st.Replicas == 3 && len(r.readyCores(ctx)) == 3, nil
	})
	if err != nil {
		t.Fatalf("core's rollout to the chart's pools: %v", err)
	}
	t.Logf("core rolled out with the chart's pools (900 open, 100 idle, 5m) in %v", time.Since(began).Round(time.Second))
}

// readyCores are core's Ready pods, none terminating.
func (r *realHarbor) readyCores(ctx context.Context) []string {
	pods, err := r.c.Typed.CoreV1().Pods(realNS).List(ctx, metav1.ListOptions{LabelSelector: realSelector + ",component=core"})
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && kube.PodReady(&p) {
			out = append(out, p.Name)
		}
	}
	return out
}
