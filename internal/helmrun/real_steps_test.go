package helmrun_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/doctor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/probe"
)

// The steps of TestRealHarbor after install: issue 20's proof
// (proveServing, real_e2e_test.go) and what the drills share.

// parallel pushes n images at once and pulls them all back, then counts
// the requests each registry replica served (its access log): the two
// replicas share one claim, so either serves what the other wrote.
func (r *realHarbor) parallel(t *testing.T, n int) {
	p := r.login(t, "harborha-parallel")
	since := metav1.Now()
	began := time.Now()
	pushes := make([]probe.Request, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pushes[i] = p.Push(context.Background()) })
	}
	wg.Wait()
	pushed := time.Since(began)
	pulls := make([]probe.Request, n)
	for i := range n {
		wg.Go(func() { pulls[i] = p.PullDigest(context.Background(), pushes[i].Digest) })
	}
	wg.Wait()
	var digests []string
	for i := range n {
		if pushes[i].Failed() {
			t.Errorf("push %d: %s", i, pushes[i].Err)
			continue
		}
		if pulls[i].Failed() {
			t.Errorf("pull %d of %s: %s", i, pushes[i].Digest, pulls[i].Err)
			continue
		}
		digests = append(digests, pushes[i].Digest)
	}
	t.Logf("%d images pushed in parallel in %v and pulled back (same digests) in %v:\n  %s", len(digests), pushed.Round(time.Millisecond),
		(time.Since(began) - pushed).Round(time.Millisecond), strings.Join(digests, "\n  "))

	// Each replica's access log since the pushes began.
	served := map[string]map[string]int{} // pod -> method -> requests
	for _, pod := range r.podsOf(t, "registry") {
		log := r.logs(t, pod.Name, "registry", &since)
		served[pod.Name] = registryRequests(log)
	}
	var lines []string
	total := 0
	for pod, byMethod := range served {
		n := 0
		for _, c := range byMethod {
			n += c
		}
		total += n
		lines = append(lines, fmt.Sprintf("%s: %d requests %v", pod, n, byMethod))
		if n == 0 {
			t.Errorf("registry pod %s served none of the requests: they are not spread over both replicas", pod)
		}
	}
	sort.Strings(lines)
	t.Logf("registry requests (access logs, %d in all):\n  %s", total, strings.Join(lines, "\n  "))
	if len(served) != 2 {
		t.Errorf("%d Ready registry pods, want 2", len(served))
	}
}

// registryMethod is the method of one request in distribution's access
// log ("response completed" lines).
var registryMethod = regexp.MustCompile(`http\.request\.method=(\w+) .*http\.request\.uri="/v2/`)

func registryRequests(log string) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `msg="response completed"`) {
			continue
		}
		if m := registryMethod.FindStringSubmatch(l); m != nil {
			out[m[1]]++
		}
	}
	return out
}

// logs is a container's log (since a time, when given).
func (r *realHarbor) logs(t *testing.T, pod, container string, since *metav1.Time) string {
	t.Helper()
	b, err := r.c.Typed.CoreV1().Pods(realNS).GetLogs(pod, &corev1.PodLogOptions{Container: container, SinceTime: since}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	return string(b)
}

// checkRedis: the Redis password is nowhere in the release as rendered,
// every component reads it from its Secret, and each really uses Redis
// with it: core's sessions and jobservice's queue as keys under their
// database indexes (chart defaults 0 and 1), the registry's blob
// descriptor cache as its blobs:: keys under 2, the exporter's task queue
// metric read from jobservice's database, and every client's connection
// logged in as the release's Redis user.
//
// The registry of these images cannot log in as an ACL user (it has no
// Redis user name: docs/harbor-from-source.md (a)); with Harbor's own
// user it logs in as default with that user's password, is refused
// (WRONGPASS) and runs without its cache. That is asserted too, so that
// it shows the day the registry is replaced; doctor reports it.
func (r *realHarbor) checkRedis(t *testing.T, h *helmHome) {
	secret, key, user := r.rd.SecretName(), "password", "default"
	if r.redisUser != "" {
		secret, key, user = bootstrap.RedisSecretName(realRelease), bootstrap.RedisPasswordKey, r.redisUser
	}
	password := r.secret(t, secret, key)
	manifest, _ := h.run(t, 0, "get", "manifest", realRelease, "-n", realNS)
	for _, form := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
		if strings.Contains(manifest, form) {
			t.Errorf("the release's manifest holds the Redis password")
		}
	}
	cms, err := r.c.Typed.CoreV1().ConfigMaps(realNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		for k, v := range cm.Data {
			if strings.Contains(v, password) {
				t.Errorf("ConfigMap %s key %s holds the Redis password", cm.Name, k)
			}
		}
	}
	for _, comp := range []string{"core", "jobservice", "registry", "exporter", "trivy"} {
		pods := r.podsOf(t, comp)
		if len(pods) == 0 || !readsSecret(pods[0], secret, key) {
			t.Errorf("no container of %s reads the Redis password from Secret %s key %s", comp, secret, key)
		}
	}

	// The exporter's metrics: the task queues come from jobservice's database.
	for _, pod := range r.podsOf(t, "exporter") {
		metrics := httpBody(t, "http://"+pod.Status.PodIP+":8001/metrics")
		if !strings.Contains(metrics, "harbor_task_queue_size") {
			t.Errorf("exporter %s: no harbor_task_queue_size in its metrics (read from Redis)", pod.Name)
		}
	}

	primary := r.rd.Primary(t)
	keyspace := r.rd.Query(t, primary, "INFO keyspace")
	blobs := r.rd.Query(t, primary, "-n 2 --scan --pattern 'blobs::*'")
	nBlobs := len(strings.Fields(blobs))
	t.Logf("Redis %s INFO keyspace:\n%s\nthe registry's blob descriptors in database 2: %d keys blobs::*", r.rd.Pod(primary), keyspace, nBlobs)
	for db, comp := range map[string]string{"db0": "core", "db1": "jobservice"} {
		if !regexp.MustCompile(`(?m)^` + db + `:keys=[1-9]`).MatchString(keyspace) {
			t.Errorf("no keys in Redis database %s: %s does not use Redis", strings.TrimPrefix(db, "db"), comp)
		}
	}
	clients := r.clients(t, user)
	var refused []string
	for _, pod := range r.podsOf(t, "registry") {
		if l := firstLine(r.logs(t, pod.Name, "registry", nil), "WRONGPASS"); l != "" {
			refused = append(refused, pod.Name+": "+l)
		}
	}
	if r.redisUser == "" {
		if nBlobs == 0 || clients["registry"] == nil || len(refused) > 0 {
			t.Errorf("the registry does not use Redis as %s: %d blobs:: keys, connections %v, refused: %v", user, nBlobs, clients["registry"], refused)
		}
		return
	}
	if len(refused) == 0 || nBlobs != 0 {
		t.Errorf("the registry of these images has no Redis user name, yet it was not refused as %s (%v) or wrote %d blobs:: keys: has it been replaced? Then assert its cache here", user, refused, nBlobs)
	}
	t.Logf("the registry cannot log in as the ACL user %s (no Redis user name in this registry: goharbor/harbor#18892), as expected:\n  %s", user, strings.Join(refused, "\n  "))
}

// clients logs Redis's clients by component (CLIENT LIST on the primary)
// and wants every connection made as user; it returns the connections
// per component ("user=... db=..." -> count).
func (r *realHarbor) clients(t *testing.T, user string) map[string]map[string]int {
	byIP := map[string]string{}
	for _, comp := range realComponents {
		for _, p := range r.podsOf(t, comp) {
			byIP[p.Status.PodIP] = comp
		}
	}
	list := r.rd.Query(t, r.rd.Primary(t), "CLIENT LIST")
	seen := map[string]map[string]int{}
	for _, l := range strings.Split(list, "\n") {
		f := clientFields(l)
		comp := byIP[strings.Split(f["addr"], ":")[0]]
		if comp == "" {
			continue
		}
		if seen[comp] == nil {
			seen[comp] = map[string]int{}
		}
		seen[comp]["user="+f["user"]+" db="+f["db"]]++
	}
	var lines []string
	for comp, conns := range seen {
		lines = append(lines, fmt.Sprintf("%s: %v", comp, conns))
		for who := range conns {
			if !strings.HasPrefix(who, "user="+user+" ") {
				t.Errorf("%s has a Redis connection as %s, not as %s", comp, who, user)
			}
		}
	}
	sort.Strings(lines)
	t.Logf("Redis clients by component:\n  %s", strings.Join(lines, "\n  "))
	for _, comp := range []string{"core", "jobservice", "exporter", "trivy"} {
		if seen[comp] == nil {
			t.Errorf("no Redis connection from %s", comp)
		}
	}
	return seen
}

// clientFields are a CLIENT LIST line's key=value pairs.
func clientFields(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func readsSecret(p corev1.Pod, secret, key string) bool {
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name == secret && ref.SecretKeyRef.Key == key {
				return true
			}
		}
	}
	return false
}

func firstLine(log, with string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, with) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// rolloutArgs change every component's pod template (an annotation).
func rolloutArgs(rev string) []string {
	var args []string
	for _, comp := range realComponents {
		args = append(args, "--set-string", fmt.Sprintf("%s.podAnnotations.e2e-rollout=%s", comp, rev))
	}
	return args
}

// underLoad runs fault while p's loop (2 workers, 200 ms apart) pushes,
// pulls and calls the API, from 5 s before the fault until 10 s after
// fault returned, and logs every failed request and the figures of the
// requests in flight at the fault's start or after it.
func (r *realHarbor) underLoad(t *testing.T, p *probe.Probe, what string, fault func(t *testing.T)) probe.Figures {
	rec := &probe.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Loop(ctx, probe.DrillLoad, rec); close(done) }()
	defer func() { cancel(); <-done }() // also when fault fails the test
	time.Sleep(5 * time.Second)

	began := time.Now()
	fault(t)
	took := time.Since(began)
	time.Sleep(10 * time.Second)
	cancel()
	<-done

	// The figures count the requests in flight at the fault or after it:
	// one that failed and ended before it is not this fault's (logged,
	// not counted).
	var reqs []probe.Request
	for _, rq := range rec.Requests() {
		if rq.Failed() {
			t.Logf("failed %s at %+.1fs (%v): %s", rq.Kind, rq.Start.Sub(began).Seconds(), rq.Duration.Round(time.Millisecond), rq.Err)
		}
		if !rq.Start.Add(rq.Duration).Before(began) {
			reqs = append(reqs, rq)
		}
	}
	f := probe.Summarize(reqs, began)
	js, _ := json.Marshal(f)
	t.Logf("%s under load: %v; probe figures: %s", what, took.Round(100*time.Millisecond), js)
	return f
}

// checkRolledOut: every pod of the release carries the new template's
// annotation and is Ready.
func (r *realHarbor) checkRolledOut(t *testing.T, rev string) {
	pods, err := r.c.Typed.CoreV1().Pods(realNS).List(context.Background(), metav1.ListOptions{LabelSelector: realSelector})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Annotations["e2e-rollout"] != rev || !kube.PodReady(&p) {
			t.Errorf("pod %s after the upgrade: annotation %q, Ready %v; want %q and Ready", p.Name, p.Annotations["e2e-rollout"], kube.PodReady(&p), rev)
		}
	}
	r.logPodTimes(t)
}

// doctor runs `helm harborha doctor -o json` on the release. One node
// cannot give what doctor wants of a highly available release (each
// component's pods on 2 nodes or more, each cluster's pods on distinct
// nodes), so those findings, each naming the node, are expected, and the
// exit status 1 with them; every other check must be ok. extra are the
// further findings expected of this release.
func (r *realHarbor) doctor(t *testing.T, h *helmHome, extra ...finding) {
	cmd := exec.Command(h.helm, "harborha", "doctor", realRelease, "-n", realNS, "-o", "json")
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep doctor.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("doctor -o json (exit %d): %v\n%s%s", code, err, out.String(), errb.String())
	}
	t.Logf("helm harborha doctor: exit %d in %v, %d checks", code, time.Since(began).Round(10*time.Millisecond), len(rep.Checks))
	var want []finding
	for _, comp := range realComponents {
		want = append(want, finding{comp, "nodes", "is on node " + kubetest.NodeName})
	}
	for _, cl := range []string{"PostgreSQL " + realNS + "/mypg", "Redis " + realNS + "/myredis"} {
		want = append(want, finding{cl, "placement", "share node " + kubetest.NodeName})
	}
	expect(t, &rep, append(want, extra...)...)
	if code != 1 {
		t.Errorf("doctor: exit %d, want 1 (the one node's findings)", code)
	}
}

// registryFindings are doctor's findings about the registry on this
// release: with Harbor's own ACL user, this registry is refused by Redis
// (checkRedis), and doctor must say so from its log.
func (r *realHarbor) registryFindings() []finding {
	if r.redisUser == "" {
		return nil
	}
	return []finding{{"registry", "redis", "WRONGPASS invalid username-password pair or user is disabled.\": Redis refuses the registry's login, so it serves without its cache"}}
}

// uninstall: `helm uninstall`, then the shared claim is still Bound, both
// clusters still run, Harbor's database and Redis user are still there.
func (r *realHarbor) uninstall(t *testing.T, h *helmHome) {
	h.run(t, 0, "uninstall", realRelease, "-n", realNS, "--wait", "--timeout", "3m")
	cx := context.Background()
	err := wait.PollUntilContextTimeout(cx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := r.c.Typed.CoreV1().Pods(realNS).List(ctx, metav1.ListOptions{LabelSelector: realSelector})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("Harbor's pods still there after helm uninstall: %v", err)
	}
	claim, err := r.c.Typed.CoreV1().PersistentVolumeClaims(realNS).Get(cx, realClaim, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && claim.Status.Phase != corev1.ClaimBound) {
		t.Errorf("the shared claim %s after helm uninstall: %v %v, want it kept and Bound", realClaim, err, claim.Status.Phase)
	}
	for _, k := range []*kubetest.KBCluster{r.pg, r.rd} {
		for i := range 2 {
			pod, err := r.c.Typed.CoreV1().Pods(realNS).Get(cx, k.Pod(i), metav1.GetOptions{})
			if err != nil || !kube.PodReady(pod) {
				t.Errorf("cluster %s: pod %s not Ready after helm uninstall: %v", k.Name, k.Pod(i), err)
			}
		}
	}
	if owner := r.pg.Query(t, r.pg.Primary(t), "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'registry'"); owner != "harbor" {
		t.Errorf("database registry after helm uninstall: owner %q, want harbor", owner)
	}
	for i := range 2 {
		if users := r.rd.Query(t, i, "ACL USERS"); !strings.Contains("\n"+users+"\n", "\n"+realRedisACL+"\n") {
			t.Errorf("Redis %s after helm uninstall: ACL USERS %q lacks %s", r.rd.Pod(i), users, realRedisACL)
		}
	}
}
