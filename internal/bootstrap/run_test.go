package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// The runner against a fake API server whose "kubelet" runs each Job's
// container on this machine (execJob) against real PostgreSQL and Redis
// servers, then writes the pod's and the Job's status as Kubernetes
// would. The runner's code path is the real one; only the pod log is read
// from the kubelet's record (the fake has no log endpoint).

// kubelet modes.
const (
	runJobs   = "run"   // run the container, finish the Job
	hangJobs  = "hang"  // the image never pulls
	stuckJobs = "stuck" // the pod can never start
)

type kubelet struct {
	t    *testing.T
	cs   kubernetes.Interface // where pods and statuses are written
	fake *fake.Clientset      // the fake API server, when not a real one
	mode string

	mu      sync.Mutex
	logs    map[string][]byte // pod name → log
	created []*batchv1.Job    // every Job as created
	runs    sync.WaitGroup
}

func newKubelet(t *testing.T, mode string, objects ...runtime.Object) *kubelet {
	f := fake.NewClientset(objects...)
	k := &kubelet{t: t, cs: f, fake: f, mode: mode, logs: map[string][]byte{}}
	n := 0
	// Create: do what the API server and the Job controller do.
	f.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
		n++
		job.UID = types.UID(fmt.Sprintf("6f0c8a52-3b1d-4e0a-9d2c-%012d", n))
		job.CreationTimestamp = metav1.Now()
		sel := map[string]string{"batch.kubernetes.io/controller-uid": string(job.UID)}
		job.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
		job.Spec.Template.Labels["batch.kubernetes.io/controller-uid"] = string(job.UID)
		job.Spec.Template.Labels["batch.kubernetes.io/job-name"] = job.Name
		if err := f.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), job, job.Namespace); err != nil {
			return true, nil, err
		}
		k.mu.Lock()
		k.created = append(k.created, job.DeepCopy())
		k.mu.Unlock()
		k.runs.Add(1)
		go func() { defer k.runs.Done(); k.start(job.DeepCopy()) }()
		return true, job, nil
	})
	t.Cleanup(k.runs.Wait)
	return k
}

func (k *kubelet) client() *kube.Client {
	return &kube.Client{Typed: k.cs, Server: "https://kube.invalid", Context: "test"}
}

func (k *kubelet) log(_ context.Context, _, pod, _ string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.logs[pod]; ok {
		return b, nil
	}
	return nil, apierrors.NewBadRequest("container has not started")
}

func (k *kubelet) start(job *batchv1.Job) {
	ctx := context.Background()
	suffix := string(job.UID)[len(job.UID)-5:] // five characters, as the Job controller adds
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-" + suffix, Namespace: job.Namespace, Labels: job.Spec.Template.Labels, CreationTimestamp: metav1.Now()},
		Spec:       job.Spec.Template.Spec,
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	pods := k.cs.CoreV1().Pods(job.Namespace)
	var err error
	if _, err = pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		k.t.Errorf("kubelet: %v", err)
		return
	}
	if pod, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil { // as stored, for status updates
		k.t.Errorf("kubelet: %v", err)
		return
	}
	waiting := func(reason, message string) {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}}
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			k.t.Errorf("kubelet: pod status: %v", err)
		}
	}
	switch k.mode {
	case hangJobs:
		waiting("ImagePullBackOff", `Back-off pulling image "`+pod.Spec.Containers[0].Image+`"`)
		return
	case stuckJobs:
		waiting("CreateContainerConfigError", `secret "mypg-conn-credential" not found`)
		return
	}
	log, code, err := execJob(k.t, job, func(name, key string) (string, error) {
		s, err := k.cs.CoreV1().Secrets(job.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("secret %q not found", name)
		}
		v, ok := s.Data[key]
		if !ok {
			return "", fmt.Errorf("couldn't find key %s in Secret %s/%s", key, job.Namespace, name)
		}
		return string(v), nil
	})
	if err != nil {
		waiting("CreateContainerConfigError", err.Error())
		return
	}
	k.mu.Lock()
	k.logs[pod.Name] = []byte(log)
	k.mu.Unlock()

	ok := code == 0
	pod.Status.Phase = map[bool]corev1.PodPhase{true: corev1.PodSucceeded, false: corev1.PodFailed}[ok]
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: map[bool]string{true: "Completed", false: "Error"}[ok]}}}}
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		k.t.Errorf("kubelet: pod status: %v", err)
	}
	cur, err := k.cs.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if err != nil {
		return // deleted meanwhile
	}
	// What the Job controller writes; a real API server checks it (the
	// interim condition first, times, counts).
	now := metav1.Now()
	cur.Status.StartTime = &pod.CreationTimestamp
	if ok {
		cur.Status.Succeeded, cur.Status.CompletionTime = 1, &now
		cur.Status.Conditions = append(cur.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
			batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now})
	} else {
		cur.Status.Failed = 1
		cur.Status.Conditions = append(cur.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now})
	}
	if _, err := k.cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		k.t.Errorf("kubelet: Job status: %v", err)
	}
}

// jobsLeft are the Jobs still stored.
func (k *kubelet) jobsLeft(t *testing.T) []string {
	t.Helper()
	list, err := k.cs.BatchV1().Jobs("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		out = append(out, j.Namespace+"/"+j.Name)
	}
	return out
}

func (k *kubelet) secret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := k.cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", ns, name, err)
	}
	return s
}

func superSecret(ns, name, user, password string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string][]byte{"username": []byte(user), "password": []byte(password)}}
}

// runWith runs the runner as Run does, with a fast poll and the kubelet's
// logs; it returns the progress written.
func runWith(ctx context.Context, k *kubelet, opts Spec) (Result, string, error) {
	return runWithClient(ctx, k.client(), k, opts)
}

func runWithClient(ctx context.Context, c *kube.Client, k *kubelet, opts Spec) (Result, string, error) {
	var progress bytes.Buffer
	opts.Progress = &progress
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return Result{}, "", err
	}
	r := newRunner(c, o)
	r.poll = 5 * time.Millisecond
	r.logs = k.log
	res, err := r.run(ctx)
	return res, progress.String(), err
}

func bothOptions(pg *pgServer, rd *redisServer) Spec {
	return Spec{
		Release: "myharbor", Namespace: "harbor",
		Postgres: &PostgresTarget{Endpoint: pg.endpoint("harbor")},
		Redis:    &RedisTarget{Endpoint: rd.endpoint("harbor"), User: "harbor", Nodes: []string{rd.addr()}},
		Timeout:  time.Minute,
	}
}

// withBoth is a PostgreSQL and a Redis server, and a fake cluster holding
// their superuser Secrets in Harbor's namespace.
func withBoth(t *testing.T) (*pgServer, *redisServer, *kubelet) {
	pg, rd := startPostgres(t), startRedis(t, true)
	return pg, rd, newKubelet(t, runJobs,
		superSecret("harbor", "mypg-conn-credential", "postgres", superPassword),
		superSecret("harbor", "myredis-redis-account-default", "default", superPassword))
}

func TestRunSetsUpBothOnceThenReusesEverything(t *testing.T) {
	t.Parallel()
	pg, rd, k := withBoth(t)
	ctx := context.Background()

	res, progress, err := runWith(ctx, k, bothOptions(pg, rd))
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, progress)
	}
	want := Result{Namespace: "harbor",
		// max_connections: the test server's, read by the script (SHOW).
		Database: &DatabaseResult{Role: "harbor", Database: "registry", Secret: "myharbor-harborha-db", MaxConnections: pgMaxConnections(t, pg)},
		Redis:    &RedisResult{User: "harbor", Secret: "myharbor-harborha-redis", Nodes: []string{rd.addr()}}}
	dbSecret, redisSecret := k.secret(t, "harbor", "myharbor-harborha-db"), k.secret(t, "harbor", "myharbor-harborha-redis")
	redisPassword := string(redisSecret.Data[RedisPasswordKey])
	if got, wantJSON := mustJSON(t, res), mustJSON(t, want); got != wantJSON {
		t.Errorf("result:\n got %s\nwant %s", got, wantJSON)
	}
	if string(dbSecret.Data["username"]) != "harbor" || len(dbSecret.Data["password"]) != 26 ||
		string(redisSecret.Data[RedisUsernameKey]) != "harbor" || len(redisSecret.Data[RedisPasswordKey]) != 26 {
		t.Errorf("generated Secrets: db %v, redis keys %v", dbSecret.Data["username"], keysOf(redisSecret.Data))
	}
	// Harbor logs in with what the Secrets hold.
	if out, err := pg.psql("harbor", string(dbSecret.Data["password"]), "registry", "SELECT current_user"); err != nil || out != "harbor" {
		t.Errorf("role login with the Secret's password: %q, %v", out, err)
	}
	login(t, rd.addr(), "harbor", string(redisSecret.Data[RedisPasswordKey]))
	for _, want := range []string{
		"bootstrap: created Secret harbor/myharbor-harborha-db for the PostgreSQL role \"harbor\"",
		"bootstrap: PostgreSQL: created Job harbor/myharbor-harborha-bootstrap-pg (image docker.io/library/postgres:17-alpine), waiting up to 1m0s",
		"bootstrap: PostgreSQL: role \"harbor\" created",
		"bootstrap: PostgreSQL: done in",
		"bootstrap: Redis: Redis at " + rd.addr() + ": user \"harbor\" created; saved with ACL SAVE; it logs in",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress lacks %q:\n%s", want, progress)
		}
	}
	if left := k.jobsLeft(t); len(left) != 0 {
		t.Errorf("Jobs left after success: %v", left)
	}

	catalogBefore, aclBefore := catalog(t, pg), aclList(t, rd)
	res2, progress, err := runWith(ctx, k, bothOptions(pg, rd))
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, progress)
	}
	if !strings.Contains(progress, "reusing Secret harbor/myharbor-harborha-db") || !strings.Contains(progress, "password unchanged") {
		t.Errorf("second run should reuse the Secrets and leave the passwords:\n%s", progress)
	}
	if string(k.secret(t, "harbor", "myharbor-harborha-redis").Data[RedisPasswordKey]) != redisPassword || res2.Redis.Secret != want.Redis.Secret ||
		string(k.secret(t, "harbor", "myharbor-harborha-db").Data["password"]) != string(dbSecret.Data["password"]) {
		t.Error("second run changed a generated password")
	}
	if extra := added(t, catalogBefore, catalog(t, pg)); len(extra) != 0 {
		t.Errorf("second run changed PostgreSQL: %v", extra)
	}
	if got := aclList(t, rd); strings.Join(got, "\n") != strings.Join(aclBefore, "\n") {
		t.Errorf("second run changed the Redis ACL")
	}

	// No password in any object created, in the progress, or in the result.
	k.runs.Wait()
	passwords := []string{superPassword, string(dbSecret.Data["password"]), redisPassword}
	for _, j := range k.created {
		assertNoPassword(t, "Job "+j.Name, mustJSON(t, j), passwords)
	}
	assertNoPassword(t, "progress", progress, passwords)
	for _, f := range []output.Format{output.Text, output.JSON, output.YAML} {
		var doc bytes.Buffer
		if err := f.Write(&doc, res); err != nil {
			t.Fatal(err)
		}
		assertNoPassword(t, "result as "+string(f), doc.String(), passwords)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertNoPassword(t *testing.T, what, text string, passwords []string) {
	t.Helper()
	for _, pw := range passwords {
		if pw != "" && strings.Contains(text, pw) {
			t.Errorf("a password appears in %s", what)
		}
	}
}

func TestRunRotateReplacesThePasswordsOnlyOnceTheJobsSetThem(t *testing.T) {
	t.Parallel()
	pg, rd, k := withBoth(t)
	ctx := context.Background()
	if _, progress, err := runWith(ctx, k, bothOptions(pg, rd)); err != nil {
		t.Fatalf("setup: %v\n%s", err, progress)
	}
	oldDB := string(k.secret(t, "harbor", "myharbor-harborha-db").Data["password"])
	oldRedis := string(k.secret(t, "harbor", "myharbor-harborha-redis").Data[RedisPasswordKey])

	o := bothOptions(pg, rd)
	o.Rotate = true
	res, progress, err := runWith(ctx, k, o)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, progress)
	}
	db, redis := k.secret(t, "harbor", "myharbor-harborha-db"), k.secret(t, "harbor", "myharbor-harborha-redis")
	newDB, newRedis := string(db.Data["password"]), string(redis.Data[RedisPasswordKey])
	if newDB == oldDB || newRedis == oldRedis || !res.Database.Rotated || !res.Redis.Rotated {
		t.Errorf("rotation did not replace the passwords (result %+v %+v)", res.Database, res.Redis)
	}
	for _, s := range []*corev1.Secret{db, redis} {
		if _, ok := s.Data[rotatingKey]; ok {
			t.Errorf("Secret %s still holds %s", s.Name, rotatingKey)
		}
	}
	pg.assertLogin(t, "harbor", oldDB, false)
	pg.assertLogin(t, "harbor", newDB, true)
	login(t, rd.addr(), "harbor", newRedis)
}

// A rotation whose Job fails leaves the working password in place.
func TestRunFailedRotationKeepsTheWorkingPassword(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	k := newKubelet(t, runJobs, superSecret("harbor", "mypg-conn-credential", "postgres", superPassword))
	ctx := context.Background()
	o := Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: pg.endpoint("harbor")}}
	if _, progress, err := runWith(ctx, k, o); err != nil {
		t.Fatalf("setup: %v\n%s", err, progress)
	}
	working := string(k.secret(t, "harbor", "myharbor-harborha-db").Data["password"])
	// The superuser's password changes under us: the rotation Job fails.
	s := k.secret(t, "harbor", "mypg-conn-credential")
	s.Data["password"] = []byte("changed-superuser-password")
	if _, err := k.cs.CoreV1().Secrets("harbor").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	o.Rotate = true
	if _, progress, err := runWith(ctx, k, o); err == nil {
		t.Fatalf("rotation succeeded with a wrong superuser password:\n%s", progress)
	}
	if got := string(k.secret(t, "harbor", "myharbor-harborha-db").Data["password"]); got != working {
		t.Error("a failed rotation replaced the Secret's password")
	}
	pg.assertLogin(t, "harbor", working, true)
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	pg.foreignDatabase(t, "taken")
	good := superSecret("harbor", "mypg-conn-credential", "postgres", superPassword)
	finishedJob := func(active bool) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "myharbor-harborha-bootstrap-pg", Namespace: "harbor", CreationTimestamp: metav1.Now()}}
		if !active {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
		}
		return j
	}
	tests := []struct {
		name     string
		mode     string
		objects  []runtime.Object
		database string
		timeout  time.Duration
		wantErr  string   // the error, with %d for the server's port
		wantLog  []string // in the progress
		jobsLeft int      // Jobs kept afterwards
		noSecret bool     // the generated Secret must not exist: checks come first
	}{
		{name: "database owned by another role", mode: runJobs, objects: []runtime.Object{good}, database: "taken",
			wantErr:  `database "taken" already exists and is owned by role "other_app", not by "harbor"; Harbor needs a database of its own: choose another name (--database), or, if this database is Harbor's, hand it over first with ALTER DATABASE taken OWNER TO harbor; the Job harbor/myharbor-harborha-bootstrap-pg is kept a day for inspection (kubectl -n harbor logs job/myharbor-harborha-bootstrap-pg)`,
			wantLog:  []string{`bootstrap: PostgreSQL log: ERROR:  harborha: database "taken" already exists`, `bootstrap: PostgreSQL log: HINT:  Harbor needs a database of its own`},
			jobsLeft: 1},
		{name: "wrong superuser password", mode: runJobs, objects: []runtime.Object{superSecret("harbor", "mypg-conn-credential", "postgres", "wrong-password-000")},
			wantErr:  `PostgreSQL at 127.0.0.1:%d refused the superuser's password from Secret harbor/mypg-conn-credential (keys "username", "password"): password authentication failed for user "postgres"; the Job harbor/myharbor-harborha-bootstrap-pg is kept a day for inspection (kubectl -n harbor logs job/myharbor-harborha-bootstrap-pg)`,
			wantLog:  []string{`bootstrap: PostgreSQL log: psql: error: connection to server at "127.0.0.1", port %d failed: FATAL:  password authentication failed for user "postgres"`},
			jobsLeft: 1},
		{name: "image never pulls: timeout", mode: hangJobs, objects: []runtime.Object{good}, timeout: 300 * time.Millisecond,
			wantErr: `the PostgreSQL bootstrap Job harbor/myharbor-harborha-bootstrap-pg did not finish within 300ms (pod myharbor-harborha-bootstrap-pg-00001: Pending (ImagePullBackOff: Back-off pulling image "docker.io/library/postgres:17-alpine")); the Job was deleted; the image cannot be pulled: mirror it into a registry the cluster can reach and pass --psql-image`,
			wantLog: []string{`bootstrap: PostgreSQL: pod myharbor-harborha-bootstrap-pg-00001 Pending (ImagePullBackOff`}},
		{name: "pod cannot start", mode: stuckJobs, objects: []runtime.Object{good},
			wantErr: `the PostgreSQL bootstrap Job harbor/myharbor-harborha-bootstrap-pg cannot start its pod (CreateContainerConfigError): secret "mypg-conn-credential" not found; the Job was deleted: check that the Secrets it reads exist with their keys`},
		{name: "superuser Secret missing", mode: runJobs,
			wantErr:  `reading the PostgreSQL superuser Secret: secrets "mypg-conn-credential" not found in namespace "harbor" on https://kube.invalid (context "test")`,
			noSecret: true},
		{name: "superuser Secret without password", mode: runJobs, objects: []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mypg-conn-credential", Namespace: "harbor"}, Data: map[string][]byte{"username": []byte("postgres"), "endpoint": []byte("x")}}},
			wantErr:  `the PostgreSQL superuser Secret harbor/mypg-conn-credential has no key "password" (keys: endpoint, username): is it the cluster's credential Secret?`,
			noSecret: true},
		{name: "Job of another run still running", mode: runJobs, objects: []runtime.Object{good, finishedJob(true)},
			wantErr:  `a PostgreSQL bootstrap Job harbor/myharbor-harborha-bootstrap-pg is already running (created %s): wait for it, or delete it with kubectl -n harbor delete job myharbor-harborha-bootstrap-pg`,
			jobsLeft: 1},
		{name: "generated Secret of another role", mode: runJobs, objects: []runtime.Object{good, generated.NewSecret("harbor", "myharbor-harborha-db", "myharbor", "database", map[string][]byte{"username": []byte("quay"), "password": []byte("Abcdefghijklmnopqrstuvwxyz")})},
			wantErr: `Secret harbor/myharbor-harborha-db holds the password of the PostgreSQL role "quay", not "harbor": keep the name "quay", or delete the Secret to start over for "harbor"`},
		{name: "generated Secret with a password Harbor's connection string breaks", mode: runJobs, objects: []runtime.Object{good, generated.NewSecret("harbor", "myharbor-harborha-db", "myharbor", "database", map[string][]byte{"username": []byte("harbor"), "password": []byte("correct horse battery staple")})},
			wantErr: `the password in Secret harbor/myharbor-harborha-db (key "password") holds whitespace, which Harbor's unquoted connection string reads otherwise: delete the Secret so that bootstrap generates one (then run it with --rotate if the PostgreSQL role "harbor" already exists)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKubelet(t, tc.mode, tc.objects...)
			o := Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: pg.endpoint("harbor"), Database: tc.database}, Timeout: tc.timeout}
			_, progress, err := runWith(context.Background(), k, o)
			if err == nil {
				t.Fatalf("no error; progress:\n%s", progress)
			}
			want := tc.wantErr
			switch {
			case strings.Contains(want, "(created %s)"):
				want = fmt.Sprintf(want, tc.objects[1].(*batchv1.Job).CreationTimestamp.Format(time.RFC3339))
			case strings.Contains(want, "%d"):
				want = fmt.Sprintf(want, pg.port)
			}
			if got := output.OneLine(err.Error()); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			for _, l := range tc.wantLog {
				if strings.Contains(l, "%d") {
					l = fmt.Sprintf(l, pg.port)
				}
				if !strings.Contains(progress, l) {
					t.Errorf("progress lacks %q:\n%s", l, progress)
				}
			}
			// What failed runs print holds no password either.
			passwords := []string{superPassword, "wrong-password-000"}
			if s, err := k.cs.CoreV1().Secrets("harbor").Get(context.Background(), "myharbor-harborha-db", metav1.GetOptions{}); err == nil {
				passwords = append(passwords, string(s.Data["password"]))
			}
			assertNoPassword(t, "the progress and error of a failed run", progress+err.Error(), passwords)
			k.runs.Wait()
			if left := k.jobsLeft(t); len(left) != tc.jobsLeft {
				t.Errorf("Jobs left: %v, want %d", left, tc.jobsLeft)
			}
			if tc.noSecret {
				if _, err := k.cs.CoreV1().Secrets("harbor").Get(context.Background(), "myharbor-harborha-db", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("the generated Secret was created before the checks failed (%v)", err)
				}
			}
		})
	}
}

func TestRunReplacesAFinishedJobOfAnEarlierRun(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	old := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "myharbor-harborha-bootstrap-pg", Namespace: "harbor"},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}}
	k := newKubelet(t, runJobs, old, superSecret("harbor", "mypg-conn-credential", "postgres", superPassword))
	_, progress, err := runWith(context.Background(), k, Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: pg.endpoint("harbor")}})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.Contains(progress, "deleting the finished Job harbor/myharbor-harborha-bootstrap-pg of an earlier run") {
		t.Errorf("progress:\n%s", progress)
	}
}

// A cluster outside Harbor's namespace: the Job runs next to it and reads
// the password from a single-use copy, removed afterwards.
func TestRunAcrossNamespacesUsesASingleUseCopy(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	k := newKubelet(t, runJobs, superSecret("databases", "mypg-conn-credential", "postgres", superPassword))
	_, progress, err := runWith(context.Background(), k, Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: pg.endpoint("databases")}})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	k.runs.Wait()
	job := k.created[0]
	if job.Namespace != "databases" {
		t.Errorf("the Job ran in %s, want the cluster's namespace", job.Namespace)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "HARBOR_DB_PASSWORD" {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != "myharbor-harborha-bootstrap-pg" || ref.Key != "password" {
		t.Errorf("HARBOR_DB_PASSWORD comes from %+v, want the single-use copy", ref)
	}
	if _, err := k.cs.CoreV1().Secrets("databases").Get(context.Background(), "myharbor-harborha-bootstrap-pg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the single-use copy is still there (%v)", err)
	}
	k.secret(t, "harbor", "myharbor-harborha-db") // the real one is in Harbor's namespace
}

func TestRunInterruptedDeletesTheJob(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	k := newKubelet(t, hangJobs, superSecret("harbor", "mypg-conn-credential", "postgres", superPassword))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(k.jobsLeft(t)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, progress, err := runWith(ctx, k, Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: pg.endpoint("harbor")}})
	if err == nil || err.Error() != "interrupted while waiting for the PostgreSQL bootstrap Job harbor/myharbor-harborha-bootstrap-pg; the Job was deleted" {
		t.Errorf("error: %v\n%s", err, progress)
	}
	if left := k.jobsLeft(t); len(left) != 0 {
		t.Errorf("Jobs left: %v", left)
	}
}

// Every running data pod of the Service's component gets the user: the
// primary, the secondaries, and a pod a KubeBlocks 1.1 Rollout added
// (release-phase canary: the Service does not select it until it is
// promoted, and then it serves).
func TestRedisNodesAreEveryRunningPodOfTheComponent(t *testing.T) {
	t.Parallel()
	sel := map[string]string{"app.kubernetes.io/instance": "myredis", "apps.kubeblocks.io/component-name": "redis"}
	pod := func(name, ip, role, phase string, status corev1.PodPhase) *corev1.Pod {
		l := map[string]string{roleLabel: role, releasePhaseLabel: phase}
		for k, v := range sel {
			l[k] = v
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", Labels: l}, Status: corev1.PodStatus{Phase: status, PodIP: ip}}
	}
	svcSel := map[string]string{roleLabel: "primary", releasePhaseLabel: "stable"}
	for k, v := range sel {
		svcSel[k] = v
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "myredis-redis-redis", Namespace: "db"},
		Spec: corev1.ServiceSpec{Selector: svcSel, Ports: []corev1.ServicePort{{Name: "redis", Port: 6379}}}}
	other := pod("other-0", "10.0.9.9", "primary", "stable", corev1.PodRunning)
	other.Labels["app.kubernetes.io/instance"] = "otherredis"
	k := newKubelet(t, runJobs, svc, other,
		pod("myredis-redis-1", "10.0.0.12", "secondary", "stable", corev1.PodRunning),
		pod("myredis-redis-0", "10.0.0.11", "primary", "stable", corev1.PodRunning),
		pod("myredis-redis-3", "10.0.0.14", "secondary", "canary", corev1.PodRunning),
		pod("myredis-redis-2", "", "", "stable", corev1.PodPending))
	var progress bytes.Buffer
	o := Spec{Release: "myharbor", Namespace: "harbor", Progress: &progress, Redis: &RedisTarget{
		Endpoint: Endpoint{Namespace: "db", Host: "10.96.0.20", Port: 6379, Secret: SecretRef{Name: "s"}}, User: "harbor", Service: "myredis-redis-redis"}}.withDefaults()
	nodes, err := newRunner(k.client(), o).redisNodes(context.Background(), o.Redis)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(nodes); got != "[{myredis-redis-0 10.0.0.11:6379} {myredis-redis-1 10.0.0.12:6379} {myredis-redis-3 10.0.0.14:6379}]" {
		t.Errorf("nodes: %s", got)
	}
	if !strings.Contains(progress.String(), `warning: Redis pod db/myredis-redis-2 is Pending: it does not get the user "harbor"`) {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// pgMaxConnections is the test server's max_connections.
func pgMaxConnections(t *testing.T, s *pgServer) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(mustPsql(t, s, "postgres", superPassword, "postgres", "SHOW max_connections")))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
