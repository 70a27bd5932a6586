// Package bootstrap creates what Harbor needs in the KubeBlocks clusters
// before it starts: a PostgreSQL role owning Harbor's database, and
// optionally a Redis ACL user on every Redis node, with generated passwords
// kept in Secrets of Harbor's namespace (created once, reused after).
//
// The work runs inside the cluster as one Job per engine (postgres.sql via
// postgres.sh, redis.sh), which gets the superuser credentials only through
// secretKeyRef. Use:
//
//	res, err := bootstrap.Run(ctx, client, bootstrap.Spec{Release: "myharbor", Namespace: "harbor",
//		Postgres: &bootstrap.PostgresTarget{Endpoint: bootstrap.EndpointFrom(found.PostgreSQL)},
//		Redis:    &bootstrap.RedisTarget{Endpoint: bootstrap.EndpointFrom(found.Redis), User: "harbor", Service: found.Redis.Service},
//		Progress: os.Stderr})
//	settings, err := res.Settings(chart.RedisUsername) // point the values overlay at the role, user and Secrets
//
// DryRun renders the same objects (passwords redacted) without an API call.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// Run bootstraps what opts ask for, PostgreSQL first, then Redis: it checks
// the superuser Secrets, creates or reuses the generated Secrets in Harbor's
// namespace, and runs one Job per engine in the cluster's namespace,
// waiting for it with progress on opts.Progress. A Job that succeeds is
// deleted; one that fails is kept (a day) and the lines of its log that
// explain the failure are shown. Every error is one line saying what to do.
//
// Run is idempotent: a second run changes nothing, except with Rotate.
func Run(ctx context.Context, c *kube.Client, opts Spec) (Result, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	return newRunner(c, o).run(ctx)
}

// runner holds one Run's state. Tests replace poll and logs.
type runner struct {
	c    *kube.Client
	o    Spec
	poll time.Duration
	// logs reads a container's log (the real one needs a kubelet).
	logs func(ctx context.Context, ns, pod, container string) ([]byte, error)
	// secrets are values never to print: generated passwords and the
	// superuser passwords read while checking their Secrets.
	secrets []string
}

func newRunner(c *kube.Client, o Spec) *runner {
	r := &runner{c: c, o: o, poll: time.Second}
	r.logs = func(ctx context.Context, ns, pod, container string) ([]byte, error) {
		return c.Typed.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, LimitBytes: ptr(int64(64 << 10))}).DoRaw(ctx)
	}
	return r
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, "bootstrap: "+format+"\n", args...)
}

func (r *runner) redact(secret string) {
	if secret != "" {
		r.secrets = append(r.secrets, secret)
	}
}

// clean replaces every known secret in s: logs and API messages are
// printed only through it.
func (r *runner) clean(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, output.Redacted)
	}
	return s
}

func (r *runner) run(ctx context.Context) (Result, error) {
	o := r.o
	res := Result{Namespace: o.Namespace}
	// Everything that can be checked is checked before anything is created.
	if o.Postgres != nil {
		if err := r.checkSuperuser(ctx, "PostgreSQL", o.Postgres.Endpoint); err != nil {
			return res, err
		}
	}
	var nodes []redisNode
	var redisCopy *accountCredential
	if o.Redis == nil && o.RedisCopy != nil {
		var err error
		if redisCopy, err = r.readRedisCopy(ctx); err != nil {
			return res, err
		}
	}
	if o.Redis != nil {
		if err := r.checkSuperuser(ctx, "Redis", o.Redis.Endpoint); err != nil {
			return res, err
		}
		var err error
		if nodes, err = r.redisNodes(ctx, o.Redis); err != nil {
			return res, err
		}
	}
	if o.Postgres != nil {
		db, err := r.postgres(ctx)
		if err != nil {
			return res, err
		}
		res.Database = db
	}
	if o.Redis != nil {
		rd, err := r.redis(ctx, nodes)
		if err != nil {
			return res, err
		}
		res.Redis = rd
	} else if redisCopy != nil {
		rd, err := r.copyRedis(ctx, redisCopy)
		if err != nil {
			return res, err
		}
		res.Redis = rd
	}
	return res, nil
}

func (r *runner) postgres(ctx context.Context) (*DatabaseResult, error) {
	pg := r.o.Postgres
	j := postgresRun(r.o)
	if err := r.bootstrap(ctx, j, func(pw passwordRef) *batchv1.Job { return postgresJob(r.o, pw) }); err != nil {
		return nil, err
	}
	return &DatabaseResult{Role: pg.Role, Database: pg.Database, Secret: j.cred.secret, Rotated: j.rotating(),
		MaxConnections: maxConnections(j.reported)}, nil
}

// maxConnections reads the server's max_connections from the script's
// report ("max_connections 112"), or 0.
func maxConnections(reported []string) int {
	for _, l := range reported {
		if v, ok := strings.CutPrefix(l, "max_connections "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

func (r *runner) redis(ctx context.Context, nodes []redisNode) (*RedisResult, error) {
	j := redisRun(r.o)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	if err := r.bootstrap(ctx, j, func(pw passwordRef) *batchv1.Job { return redisJob(r.o, addrs, pw) }); err != nil {
		return nil, err
	}
	r.recordRedisNodes(ctx, nodes)
	return &RedisResult{User: r.o.Redis.User, Secret: j.cred.secret, Nodes: addrs, Rotated: j.rotating()}, nil
}

// bootstrap is one engine's sequence: its Secret, its Job, and the end of
// a rotation once the Job has set the new password.
func (r *runner) bootstrap(ctx context.Context, j *jobRun, build func(passwordRef) *batchv1.Job) error {
	var err error
	if j.password, err = r.ensureSecret(ctx, j.cred); err != nil {
		return err
	}
	var pw passwordRef
	pw, j.input = jobPassword(r.o, j, j.password.password)
	j.job = build(pw)
	if err := r.runJob(ctx, j); err != nil {
		return err
	}
	if j.rotating() {
		return r.finishRotation(ctx, j.cred, j.password.password)
	}
	return nil
}

// checkSuperuser reads the cluster's credential Secret before any Job
// needs it: a missing Secret or key is one clear error here, rather than a
// pod stuck in CreateContainerConfigError. The password is only kept to be
// redacted from anything printed.
func (r *runner) checkSuperuser(ctx context.Context, engine string, e Endpoint) error {
	s, err := r.c.Typed.CoreV1().Secrets(e.Namespace).Get(ctx, e.Secret.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the %s superuser Secret: %w", engine, r.c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: e.Namespace, Name: e.Secret.Name}))
	}
	for _, k := range []string{e.Secret.UsernameKey, e.Secret.PasswordKey} {
		if len(s.Data[k]) == 0 {
			return fmt.Errorf("the %s superuser Secret %s/%s has no key %q (keys: %s): is it the cluster's credential Secret?",
				engine, e.Namespace, e.Secret.Name, k, keysOf(s.Data))
		}
	}
	r.redact(string(s.Data[e.Secret.PasswordKey]))
	return nil
}

func keysOf(m map[string][]byte) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// Labels the primary Service selects on that other data pods lack: the
// role, and the release phase (KubeBlocks 1.1's Rollouts add pods labelled
// canary, which serve once promoted to stable).
const (
	roleLabel         = "kubeblocks.io/role"
	releasePhaseLabel = "apps.kubeblocks.io/release-phase"
)

// redisNode is a data node the Redis Job configures: its address and, when
// found through the Service, its pod.
type redisNode struct{ pod, addr string }

// redisNodes are the nodes the Redis Job configures: the given addresses,
// else every running pod of the Service's component, else the primary
// alone; sorted by address.
func (r *runner) redisNodes(ctx context.Context, t *RedisTarget) ([]redisNode, error) {
	if len(t.Nodes) > 0 {
		var nodes []redisNode
		for _, a := range t.Nodes {
			nodes = append(nodes, redisNode{addr: a})
		}
		return nodes, nil
	}
	primaryOnly := []redisNode{{addr: t.addr()}}
	if t.Service == "" {
		r.say("warning: only the Redis primary %s gets the user %q: pass the cluster's Service so that every replica gets it too (ACL users are not replicated)", t.addr(), t.User)
		return primaryOnly, nil
	}
	svc, err := r.c.Typed.CoreV1().Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
	if err != nil {
		return nil, r.c.Explain(err, kube.Op{Verb: "get", Resource: "services", Namespace: t.Namespace, Name: t.Service})
	}
	sel := labels.Set{}
	for k, v := range svc.Spec.Selector {
		if k != roleLabel && k != releasePhaseLabel {
			sel[k] = v
		}
	}
	if len(sel) == 0 {
		r.say("warning: Service %s/%s has no selector besides the role: only %s gets the user %q", t.Namespace, t.Service, t.addr(), t.User)
		return primaryOnly, nil
	}
	pods, err := r.c.Typed.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, r.c.Explain(err, kube.Op{Verb: "list", Resource: "pods", Namespace: t.Namespace})
	}
	port := redisPort(svc, t.Port)
	var nodes []redisNode
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			r.say("warning: Redis pod %s/%s is %s: it does not get the user %q; run bootstrap again once it runs", p.Namespace, p.Name, p.Status.Phase, t.User)
			continue
		}
		nodes = append(nodes, redisNode{pod: p.Name, addr: p.Status.PodIP + ":" + strconv.Itoa(port)})
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no running Redis pod behind Service %s/%s (selector %s): wait until the cluster runs", t.Namespace, t.Service, sel)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].addr < nodes[j].addr })
	shown := make([]string, len(nodes))
	for i, n := range nodes {
		shown[i] = n.addr + " (" + n.pod + ")"
	}
	r.say("Redis nodes of Service %s/%s: %s", t.Namespace, t.Service, strings.Join(shown, ", "))
	return nodes, nil
}

// redisPort is the pods' port behind the Service port we were given (a
// numeric targetPort; KubeBlocks names it "redis", which is 6379).
func redisPort(svc *corev1.Service, port int) int {
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == port && p.TargetPort.IntValue() > 0 {
			return p.TargetPort.IntValue()
		}
	}
	return port
}

// jobPassword says where the Job reads the password it sets: the generated
// Secret itself when the Job runs in Harbor's namespace, else a single-use
// copy next to the cluster (returned), since secretKeyRef reads only the
// pod's namespace.
func jobPassword(o Spec, j *jobRun, password string) (passwordRef, *corev1.Secret) {
	if j.endpoint.Namespace == o.Namespace {
		return passwordRef{secret: j.cred.secret, key: j.password.key}, nil
	}
	name := jobName(o.Release, j.short)
	return passwordRef{secret: name, key: "password"}, jobInput(j.endpoint.Namespace, name, o.Release, j.component, password)
}

// jobRun is one Job being run.
type jobRun struct {
	engine    string // "PostgreSQL", "Redis"
	short     string // in the Job's name
	component string // label
	imageFlag string // the flag that changes its image, for hints
	endpoint  Endpoint
	cred      credential
	password  ensured
	job       *batchv1.Job   // as built
	created   *batchv1.Job   // as the API server returned it (with its UID)
	input     *corev1.Secret // single-use password copy, or nil
	reported  []string       // the script's progress lines, once it succeeded
}

func postgresRun(o Spec) *jobRun {
	return &jobRun{engine: "PostgreSQL", short: "pg", component: "bootstrap-postgresql", imageFlag: "--psql-image",
		endpoint: o.Postgres.Endpoint, cred: o.databaseCredential()}
}

func redisRun(o Spec) *jobRun {
	return &jobRun{engine: "Redis", short: "redis", component: "bootstrap-redis", imageFlag: "--redis-image",
		endpoint: o.Redis.Endpoint, cred: o.redisCredential()}
}

func (j *jobRun) rotating() bool { return j.password.key == rotatingKey }

func (j *jobRun) ref() string { return j.job.Namespace + "/" + j.job.Name }

// runJob creates the Job and waits for it; see Run.
func (r *runner) runJob(ctx context.Context, j *jobRun) error {
	ns := j.job.Namespace
	jobs := r.c.Typed.BatchV1().Jobs(ns)
	if err := r.clearFinished(ctx, j); err != nil {
		return err
	}
	if j.input != nil {
		if err := r.putInput(ctx, j.input); err != nil {
			return err
		}
	}
	created, err := jobs.Create(ctx, j.job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) { // its input is the other run's now: leave it
		return fmt.Errorf("the %s bootstrap Job %s was created meanwhile by another run: wait for it, then run bootstrap again", j.engine, j.ref())
	}
	if err != nil {
		r.deleteQuietly(j)
		return r.c.Explain(err, kube.Op{Verb: "create", Resource: "jobs", Group: "batch", Namespace: ns, Name: j.job.Name})
	}
	j.created = created
	if j.input != nil {
		r.adoptInput(ctx, j.input, created)
	}
	r.say("%s: created Job %s (image %s), waiting up to %s", j.engine, j.ref(), j.job.Spec.Template.Spec.Containers[0].Image, r.o.Timeout)

	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	outcome, waitErr := r.wait(wctx, j)
	switch {
	case waitErr == nil && outcome.ok:
		j.reported = progressLines(r.clean(string(r.readLog(ctx, j, outcome.pod))))
		for _, line := range j.reported {
			r.say("%s: %s", j.engine, line)
		}
		r.deleteQuietly(j)
		r.say("%s: done in %s; Job deleted", j.engine, time.Since(start).Round(100*time.Millisecond))
		return nil
	case waitErr == nil:
		return r.failed(ctx, j, outcome)
	case ctx.Err() != nil: // interrupted by the caller, not our deadline
		r.deleteQuietly(j)
		return fmt.Errorf("interrupted while waiting for the %s bootstrap Job %s; the Job was deleted", j.engine, j.ref())
	case errors.Is(waitErr, context.DeadlineExceeded):
		log := r.clean(string(r.readLog(ctx, j, outcome.pod)))
		for _, line := range failureLines(log) {
			r.say("%s log: %s", j.engine, line)
		}
		r.deleteQuietly(j)
		return fmt.Errorf("the %s bootstrap Job %s did not finish within %s%s; the Job was deleted%s",
			j.engine, j.ref(), r.o.Timeout, outcome.describe(), timeoutHint(outcome, j.imageFlag, r.o.TimeoutFlag))
	default:
		r.deleteQuietly(j)
		return waitErr
	}
}

// clearFinished deletes a finished Job left by an earlier run (a failed
// one is kept for inspection) and refuses to race a running one.
func (r *runner) clearFinished(ctx context.Context, j *jobRun) error {
	jobs := r.c.Typed.BatchV1().Jobs(j.job.Namespace)
	old, err := jobs.Get(ctx, j.job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return r.c.Explain(err, kube.Op{Verb: "get", Resource: "jobs", Group: "batch", Namespace: j.job.Namespace, Name: j.job.Name})
	}
	if done, _ := finished(old); !done {
		return fmt.Errorf("a %s bootstrap Job %s is already running (created %s): wait for it, or delete it with kubectl -n %s delete job %s",
			j.engine, j.ref(), old.CreationTimestamp.Format(time.RFC3339), j.job.Namespace, j.job.Name)
	}
	r.say("%s: deleting the finished Job %s of an earlier run", j.engine, j.ref())
	if err := jobs.Delete(ctx, j.job.Name, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}); err != nil && !apierrors.IsNotFound(err) {
		return r.c.Explain(err, kube.Op{Verb: "delete", Resource: "jobs", Group: "batch", Namespace: j.job.Namespace, Name: j.job.Name})
	}
	// The name is free once the object is gone (dependents go later).
	for {
		if _, err := jobs.Get(ctx, j.job.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while deleting the old Job %s", j.ref())
		case <-time.After(r.poll):
		}
	}
}

// putInput creates or refreshes the single-use password copy.
func (r *runner) putInput(ctx context.Context, s *corev1.Secret) error {
	secrets := r.c.Typed.CoreV1().Secrets(s.Namespace)
	_, err := secrets.Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var old *corev1.Secret
		if old, err = secrets.Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
			old.Data, old.Labels = s.Data, s.Labels
			_, err = secrets.Update(ctx, old, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return r.c.Explain(err, kube.Op{Verb: "create", Resource: "secrets", Namespace: s.Namespace, Name: s.Name})
	}
	return nil
}

// adoptInput makes the Job own its input, so that garbage collection
// removes it with a failed Job that expires. Best effort: Run deletes it
// itself on every path but failure.
func (r *runner) adoptInput(ctx context.Context, s *corev1.Secret, owner *batchv1.Job) {
	secrets := r.c.Typed.CoreV1().Secrets(s.Namespace)
	cur, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: owner.Name, UID: owner.UID}}
	_, _ = secrets.Update(ctx, cur, metav1.UpdateOptions{})
}

// deleteQuietly removes the Job (with its pods) and its input. It uses a
// context of its own: cleanup must also happen after an interrupt.
func (r *runner) deleteQuietly(j *jobRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if created := j.created; created != nil {
		opts := metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}
		if created.UID != "" { // never a newer Job of the same name
			opts.Preconditions = &metav1.Preconditions{UID: &created.UID}
		}
		err := r.c.Typed.BatchV1().Jobs(created.Namespace).Delete(ctx, created.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) {
			r.say("warning: could not delete Job %s: %s", j.ref(), r.c.Explain(err, kube.Op{Verb: "delete", Resource: "jobs", Group: "batch", Namespace: created.Namespace, Name: created.Name}))
		}
	}
	if j.input != nil {
		err := r.c.Typed.CoreV1().Secrets(j.input.Namespace).Delete(ctx, j.input.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			r.say("warning: could not delete the Job's input Secret %s/%s: %s", j.input.Namespace, j.input.Name, r.c.Explain(err, kube.Op{Verb: "delete", Resource: "secrets", Namespace: j.input.Namespace, Name: j.input.Name}))
		}
	}
}
