package helmrun_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/probe"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The real Harbor end to end (issue 20): Harbor 2.15.1 built from source
// (bin/images, `make harbor-images`), chart 1.19.1, on the real node
// (kubetest.StartRealCluster: a kubelet running containers), through the
// commands a user types, on Helm 3 and then Helm 4. TestRealHarbor
// (real_drill_test.go) runs it, one release's life per major, and the
// drills of issue 21 on the same release:
//
//   - KubeBlocks-shaped PostgreSQL (primary + streaming standby) and Redis
//     (primary + replica) clusters in namespace harbor, a ReadWriteMany
//     volume for the shared claim and ReadWriteOnce ones for trivy;
//   - `helm harborha install --wait` with discovery and the real bootstrap
//     Jobs (database, role, a Redis ACL user on every Redis node) in the
//     tools image, --shared-pvc, 2 replicas, the images' values;
//   - every pod Ready from the rendered manifests unchanged; admin logs in
//     through the nginx NodePort the overlay configures, images pushed and
//     pulled back with the same digests, 12 in parallel over two registry
//     replicas on the shared claim; the Redis password by reference only,
//     and core, jobservice, registry and the exporter really using Redis;
//     `helm harborha doctor` content but for the one node (proveServing);
//   - `helm harborha upgrade` with a changed pod template while a probe
//     pushes, pulls and calls the API (the drills' rollout): every failed
//     request recorded, no pull may fail, every pod rolled out;
//   - `helm uninstall` leaves the shared claim and the clusters; the next
//     major installs on what is left and pulls the images pushed before.

const (
	realNS       = "harbor"
	realRelease  = "myharbor"
	realSelector = "release=" + realRelease
	realClaim    = "harbor-shared"
	realNodePort = 30002
	realRedisACL = "harbor" // --redis-user of the Helm 3 release
	// Timeouts of helm --wait: a fresh Harbor migrates its database first,
	// and jobservice restarts until core answers.
	realInstallTimeout = "10m"
	realUpgradeTimeout = "8m"
)

// realComponents are the workloads of the release: the chart's with the
// overlay's nginx (the NodePort) and metrics on (the exporter).
var realComponents = []string{"core", "exporter", "jobservice", "nginx", "portal", "registry", "trivy"}

// realHarbor is the environment both majors share: the node, the clusters,
// the chart and the images' values.
type realHarbor struct {
	c      *kubetest.RealCluster
	pg, rd *kubetest.KBCluster
	chart  string
	values string // bin/images/harbor-values.yaml
	tools  string // the tools image: bootstrap's --psql-image and --redis-image
	// dbproxy is the harborha-dbproxy image: our install's
	// --database-proxy-image.
	dbproxy string
	url     string // Harbor's external URL: the nginx NodePort on the node's IP
	// pushed are images pushed by earlier releases: each later one pulls them.
	pushed []string
	// redisUser is the release's --redis-user: Harbor's own ACL user, or
	// "" for the cluster's account (default), by reference.
	redisUser string
}

// startRealHarbor starts the real node with what every release of these
// tests stands on: the images, namespace harbor, the KubeBlocks-shaped
// clusters and the volumes (one ReadWriteMany for the shared claim, two
// ReadWriteOnce for trivy).
func startRealHarbor(t *testing.T) *realHarbor {
	testutil.SkipShort(t, "the real node")
	values := filepath.Join(kubetest.ImagesDir(), "harbor-values.yaml")
	if _, err := os.Stat(values); err != nil {
		testutil.Missing(t, "%s (run `make harbor-images`, or set HARBORHA_IMAGES)", values)
	}
	began := time.Now()
	c := kubetest.StartRealCluster(t)
	for _, img := range []string{"tools", "nginx-photon", "harbor-core", "registry-photon"} {
		c.Image(t, img) // missing: skip, or fail under HARBORHA_STRICT
	}
	c.EnsureNamespace(t, realNS)
	r := &realHarbor{c: c, chart: testutil.Chart(t, "harbor-1.19.1.tgz"), values: values, tools: c.Image(t, "tools"),
		dbproxy: c.Image(t, "dbproxy"), url: fmt.Sprintf("http://%s:%d", kubetest.NodeIP, realNodePort)}
	r.pg = c.KubeBlocksCluster(t, realNS, "mypg", kubetest.PostgreSQL)
	r.rd = c.KubeBlocksCluster(t, realNS, "myredis", kubetest.Redis)
	// After the clusters, whose 1Gi claims would otherwise bind these.
	c.AddVolumes(t, corev1.ReadWriteMany, "10Gi", 1)
	c.AddVolumes(t, corev1.ReadWriteOnce, "5Gi", 2)
	t.Logf("environment ready in %v", time.Since(began).Round(time.Second))
	return r
}

// redisUserOf is our release's --redis-user on Helm major: Harbor's own
// ACL user on Helm 3 (bootstrap creates it on every node), the cluster's
// account on Helm 4 (on what Helm 3 left), so that both ways of passing
// the Redis password by reference really run.
func redisUserOf(major int) string {
	if major == 3 {
		return realRedisACL
	}
	return ""
}

// proveServing is issue 20's proof, on our release just installed, step
// by step (the first failed step ends it): every pod Ready from the
// rendered manifests, a push and pull through the NodePort, the images of
// the release before pulled back, parallel pushes over both registries,
// the Redis password by reference used by every component, and doctor
// content but for the one node. It returns the logged-in probe the
// drills go on with.
func (r *realHarbor) proveServing(t *testing.T, h *helmHome) *probe.Probe {
	var p *probe.Probe
	steps := []simStep{
		{"pods Ready from the rendered manifests", func(t *testing.T) { r.checkPods(t, h) }},
		{"log in, push and pull", func(t *testing.T) { p = r.login(t, "harborha-e2e"); r.pushPull(t, p) }},
		{"images of the release before", func(t *testing.T) { r.pullEarlier(t, p) }},
		{"parallel pushes over both registries", func(t *testing.T) { r.parallel(t, 12) }},
		{"Redis by reference, used by every component", func(t *testing.T) { r.checkRedis(t, h) }},
		{"doctor", func(t *testing.T) { r.doctor(t, h, r.registryFindings()...) }},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.run) {
			t.FailNow()
		}
	}
	return p
}

// flags are harborha's and Helm's flags of install and upgrade.
func (r *realHarbor) flags() []string {
	flags := []string{"-n", realNS, "--psql-image", r.tools, "--redis-image", r.tools,
		"--shared-pvc", realClaim, "--create-shared-pvc", "--replicas", "2", fmt.Sprintf("--node-port=%d", realNodePort),
		"-f", r.values, "--set", "metrics.enabled=true"}
	if r.dbproxy != "" {
		flags = append(flags, "--database-proxy-image", r.dbproxy)
	}
	if r.redisUser != "" {
		flags = append(flags, "--redis-user", r.redisUser)
	}
	return flags
}

func (r *realHarbor) install(t *testing.T, h *helmHome) {
	began := time.Now()
	_, stderr := h.run(t, 0, append([]string{"harborha", "install", realRelease, r.chart, "--wait", "--timeout", realInstallTimeout}, r.flags()...)...)
	t.Logf("helm harborha install --wait: %v", time.Since(began).Round(100*time.Millisecond))
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "harborha:") {
			t.Log(l)
		}
	}
}

// checkPods: every workload of the release is the one Helm created
// (generation 1: nothing changed it since) with all replicas Ready; each
// pod's time to Ready and restarts are logged.
func (r *realHarbor) checkPods(t *testing.T, h *helmHome) {
	cx := context.Background()
	deps, err := r.c.Typed.AppsV1().Deployments(realNS).List(cx, metav1.ListOptions{LabelSelector: realSelector})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := r.c.Typed.AppsV1().StatefulSets(realNS).List(cx, metav1.ListOptions{LabelSelector: realSelector})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	check := func(kind, name string, generation int64, ready, replicas int32) {
		if ready != replicas || replicas != 2 || generation != 1 {
			t.Errorf("%s %s: %d of %d Ready, generation %d; want 2 of 2, generation 1 (as Helm created it)", kind, name, ready, replicas, generation)
		}
	}
	for _, d := range deps.Items {
		seen[d.Labels["component"]] = true
		check("Deployment", d.Name, d.Generation, d.Status.ReadyReplicas, *d.Spec.Replicas)
	}
	for _, s := range sts.Items {
		seen[s.Labels["component"]] = true
		check("StatefulSet", s.Name, s.Generation, s.Status.ReadyReplicas, *s.Spec.Replicas)
	}
	for _, comp := range realComponents {
		if !seen[comp] {
			t.Errorf("no workload of component %s", comp)
		}
	}
	r.logPodTimes(t)
}

// logPodTimes logs each pod's seconds from creation to Ready and its
// restarts (jobservice restarts until core answers).
func (r *realHarbor) logPodTimes(t *testing.T) {
	pods, err := r.c.Typed.CoreV1().Pods(realNS).List(context.Background(), metav1.ListOptions{LabelSelector: realSelector})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range pods.Items {
		ready := "not Ready"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = fmt.Sprintf("Ready after %v", c.LastTransitionTime.Sub(p.CreationTimestamp.Time))
			}
		}
		restarts, why := int32(0), ""
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
			if cs.RestartCount > 0 {
				why = r.lastWords(t, p.Name, cs.Name)
			}
		}
		lines = append(lines, fmt.Sprintf("%s: %s, %d restarts%s", p.Name, ready, restarts, why))
	}
	sort.Strings(lines)
	t.Logf("pods:\n  %s", strings.Join(lines, "\n  "))
}

// lastWords is the panic or error a restarted container's previous run
// ended with (its log's last such line).
func (r *realHarbor) lastWords(t *testing.T, pod, container string) string {
	b, err := r.c.Typed.CoreV1().Pods(realNS).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: true}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf(" (previous log: %v)", err)
	}
	last := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic:") || strings.Contains(l, "[FATAL]") || strings.Contains(l, "[ERROR]") {
			last = strings.TrimSpace(l)
		}
	}
	if last == "" {
		return ""
	}
	return "; the previous run ended with: " + last
}

// secret reads one key of a Secret in Harbor's namespace (never logged).
func (r *realHarbor) secret(t *testing.T, name, key string) string {
	t.Helper()
	s, err := r.c.Typed.CoreV1().Secrets(realNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		t.Fatalf("Secret %s/%s has no key %s", realNS, name, key)
	}
	return string(v)
}

// login logs in as admin, with the password of the chart's admin Secret,
// through the NodePort; images go to library/<repo>.
func (r *realHarbor) login(t *testing.T, repo string) *probe.Probe {
	t.Helper()
	target := probe.Target{URL: r.url, Username: "admin", Password: r.secret(t, realRelease+"-core", "HARBOR_ADMIN_PASSWORD"),
		Repository: repo, ImageSize: 256 << 10, Timeout: 30 * time.Second}
	var p *probe.Probe
	var err error
	// nginx answers once kube-proxy has programmed the NodePort.
	werr := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err = probe.New(ctx, target)
		return err == nil, nil
	})
	if werr != nil {
		t.Fatalf("logging in to Harbor at %s as admin: %v", r.url, err)
	}
	return p
}

func (r *realHarbor) pushPull(t *testing.T, p *probe.Probe) {
	push := p.Push(context.Background())
	if push.Failed() {
		t.Fatalf("push: %s", push.Err)
	}
	pull := p.Pull(context.Background())
	if pull.Failed() || pull.Digest != push.Digest {
		t.Fatalf("pull of %s: %q, digest %s", push.Digest, pull.Err, pull.Digest)
	}
	t.Logf("pushed %s/library/harborha-e2e %s in %v, pulled %s in %v (manifest and layer digests checked)",
		r.url, push.Digest, push.Duration.Round(time.Millisecond), pull.Digest, pull.Duration.Round(time.Millisecond))
	r.pushed = append(r.pushed, push.Digest)
}

// pullEarlier pulls what the releases before this one pushed: the shared
// claim and the database outlived their uninstall.
func (r *realHarbor) pullEarlier(t *testing.T, p *probe.Probe) {
	earlier := r.pushed[:len(r.pushed)-1]
	if len(earlier) == 0 {
		t.Skip("the first release: nothing pushed before")
	}
	for _, d := range earlier {
		if rq := p.PullDigest(context.Background(), d); rq.Failed() {
			t.Errorf("pull of %s, pushed by an earlier release: %s", d, rq.Err)
		}
	}
	t.Logf("pulled back %d images pushed before the uninstall: %s", len(earlier), strings.Join(earlier, ", "))
}

// podsOf are the names and IPs of a component's pods.
func (r *realHarbor) podsOf(t *testing.T, comp string) []corev1.Pod {
	t.Helper()
	pods, err := r.c.Typed.CoreV1().Pods(realNS).List(context.Background(), metav1.ListOptions{LabelSelector: realSelector + ",component=" + comp})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if kube.PodReady(&p) {
			out = append(out, p)
		}
	}
	return out
}
