package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe"
)

// Harbor's configuration keys the drill reads: its URL (the chart's
// externalURL) and the initial admin password (harborAdminPassword, or
// existingSecretAdminPassword's Secret).
const (
	envExtEndpoint   = "EXT_ENDPOINT"
	envAdminPassword = "HARBOR_ADMIN_PASSWORD"
)

// HarborFlags say how the drill's probe reaches Harbor.
type HarborFlags struct {
	URL           string
	User          string
	Project       string
	PasswordStdin bool
	Insecure      bool
}

// AddFlags defines the --harbor-* flags.
func (h *HarborFlags) AddFlags(fs interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}) {
	fs.StringVar(&h.URL, "harbor-url", "", "with --drill: Harbor's URL as this machine reaches it (default: the release's externalURL, core's EXT_ENDPOINT)")
	fs.StringVar(&h.User, "harbor-user", "admin", "with --drill: the Harbor user the probe logs in as")
	fs.StringVar(&h.Project, "harbor-project", "library", "with --drill: the existing project the probe pushes to, in repository "+probe.DefaultRepository+", which it deletes when done")
	fs.BoolVar(&h.PasswordStdin, "harbor-password-stdin", false, "with --drill: read the Harbor user's password from stdin (default: the release's admin password Secret)")
	fs.BoolVar(&h.Insecure, "harbor-insecure", false, "with --drill: accept Harbor's certificate unverified (self-signed)")
}

func (h *HarborFlags) validate(drill, yes bool) error {
	switch {
	case !drill && (h.URL != "" || h.PasswordStdin || h.Insecure || (h.Project != "" && h.Project != "library")):
		return errors.New("the --harbor-* flags tell the drill's probe how to reach Harbor: add --drill, or drop them")
	case h.PasswordStdin && !yes:
		return errors.New("--harbor-password-stdin takes stdin, where the drill would ask for confirmation: add --yes")
	case h.User == "":
		return errors.New("--harbor-user is empty: give the Harbor user the probe logs in as (admin)")
	case h.Project == "":
		return errors.New("--harbor-project is empty: give an existing project the probe may push to (library)")
	}
	return nil
}

// harborAccess is what the release says of reaching Harbor: its URL and
// where core reads the admin password from (never the password itself).
type harborAccess struct {
	url, urlSource string
	secrets        []secretKey
}

type secretKey struct{ name, key string }

func (s secretKey) String() string { return "Secret " + s.name + " key " + s.key }

// harborAccessOf reads core's EXT_ENDPOINT, and the Secret keys its
// HARBOR_ADMIN_PASSWORD comes from: an env secretKeyRef (the chart's
// existingSecretAdminPassword), else each Secret it reads whole (the
// chart's own core Secret).
func harborAccessOf(rel *harbor.Release, configMaps map[string]*corev1.ConfigMap) harborAccess {
	core := rel.Workload("core")
	if core == nil {
		return harborAccess{}
	}
	var a harborAccess
	a.url, a.urlSource = coreSetting(core, rel.WithConfig(configMapDocs(configMaps, len(rel.Docs)+1)).Sources(), envExtEndpoint)
	for _, c := range core.Template().Spec.Containers {
		for _, e := range c.Env {
			if e.Name == envAdminPassword && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return harborAccess{url: a.url, urlSource: a.urlSource, secrets: []secretKey{{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}}}
			}
		}
		for _, from := range c.EnvFrom {
			if from.SecretRef != nil && from.Prefix == "" {
				a.secrets = append(a.secrets, secretKey{from.SecretRef.Name, envAdminPassword})
			}
		}
	}
	return a
}

// harborTarget is the probe's target: the URL from --harbor-url or the
// release, the password from stdin or the release's Secret. It logs in
// once, so that a wrong URL or password stops the drill before any fault.
func (o *Options) harborTarget(ctx context.Context, c *kube.Client, r *Report, in io.Reader) (probe.Target, error) {
	t := probe.Target{URL: o.Harbor.URL, Username: o.Harbor.User, Project: o.Harbor.Project, Insecure: o.Harbor.Insecure}
	urlSource := "--harbor-url"
	if t.URL == "" {
		if r.harbor.url == "" {
			return t, fmt.Errorf("no Harbor URL: release %s's core has no %s (the chart's externalURL): pass --harbor-url http://HOST:PORT, as this machine reaches Harbor", r.Release, envExtEndpoint)
		}
		t.URL, urlSource = r.harbor.url, r.harbor.urlSource
	}
	password, passwordSource, err := o.adminPassword(ctx, c, r, in)
	if err != nil {
		return t, err
	}
	t.Password = password
	p, err := probe.New(ctx, t)
	if err != nil {
		return t, loginError(err, t, urlSource, passwordSource)
	}
	// The project is read as the probe will use it, before the
	// confirmation: a probe that cannot push tells nothing of a fault.
	if r := p.API(ctx); r.Failed() {
		fix := "check that Harbor serves its API at " + t.URL
		if strings.Contains(r.Err, "HTTP 404") || strings.Contains(r.Err, "HTTP 403") {
			fix = fmt.Sprintf("no project %q that user %q can see: pass an existing one with --harbor-project", t.Project, t.Username)
		}
		return t, fmt.Errorf("Harbor at %s: reading project %q: %s: %s", t.URL, t.Project, r.Err, fix)
	}
	return t, nil
}

// adminPassword reads stdin (--harbor-password-stdin), else the first
// Secret key core reads HARBOR_ADMIN_PASSWORD from that has it.
func (o *Options) adminPassword(ctx context.Context, c *kube.Client, r *Report, in io.Reader) (password, source string, err error) {
	if o.Harbor.PasswordStdin {
		b, err := io.ReadAll(in)
		password = strings.TrimRight(string(b), "\r\n")
		if err != nil || password == "" {
			return "", "", errors.New("--harbor-password-stdin: stdin held no password: pipe it in (printf %s \"$PASSWORD\" | helm harborha doctor ...)")
		}
		return password, "--harbor-password-stdin", nil
	}
	ns := c.Namespace
	for _, s := range r.harbor.secrets {
		sec, err := c.Typed.CoreV1().Secrets(ns).Get(ctx, s.name, metav1.GetOptions{})
		if err != nil {
			return "", "", fmt.Errorf("reading Harbor's admin password: %v; or pass it with --harbor-password-stdin", c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: ns, Name: s.name}))
		}
		if v := string(sec.Data[s.key]); v != "" {
			return v, s.String(), nil
		}
	}
	return "", "", fmt.Errorf("no admin password: release %s's core reads %s from no Secret that has it: pass the password with --harbor-password-stdin", r.Release, envAdminPassword)
}

// loginError says why the probe could not log in, and what to do.
func loginError(err error, t probe.Target, urlSource, passwordSource string) error {
	if errors.Is(err, probe.ErrRefused) {
		fix := "pass the current one with --harbor-password-stdin (and the user with --harbor-user)"
		if passwordSource == "--harbor-password-stdin" {
			fix = "check the password and --harbor-user"
		}
		return fmt.Errorf("Harbor at %s refused user %q with the password from %s (401): %s", t.URL, t.Username, passwordSource, fix)
	}
	fix := "pass an address this machine reaches with --harbor-url"
	if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
		fix = "a certificate this machine does not trust: --harbor-insecure accepts it"
	}
	return fmt.Errorf("Harbor at %s (from %s) cannot be reached from here: %v: %s", t.URL, urlSource, err, fix)
}

// probeRun is a probe looping in the background.
type probeRun struct {
	p      *probe.Probe
	rec    probe.Recorder
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startProbe logs in, pushes a first image (so that no pull fails for
// want of one, and Harbor is known to take writes before the fault),
// writes once through the API (a user who may not would fail every
// write of the fault) and starts the loop.
func startProbe(ctx context.Context, t probe.Target, load probe.Load) (*probeRun, error) {
	p, err := probe.New(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("the probe could not log in to Harbor before the fault: %v", err)
	}
	if r := p.Push(ctx); r.Failed() {
		return nil, fmt.Errorf("the probe's first push to Harbor failed before the fault: %s", r.Err)
	}
	if r := p.Write(ctx); r.Failed() {
		fix := ""
		if strings.Contains(r.Err, "HTTP 403") {
			fix = fmt.Sprintf(": user %q may not update repositories in project %s; drill as a maintainer of it or an admin (--harbor-user)", t.Username, p.Project())
		}
		return nil, fmt.Errorf("the probe's first API write to Harbor (its repository's description) failed before the fault: %s%s", r.Err, fix)
	}
	run := &probeRun{p: p, done: make(chan struct{})}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run.cancel = cancel
	go func() {
		p.Loop(loopCtx, load, &run.rec)
		close(run.done)
	}()
	return run, nil
}

// writesBack waits, within ctx, until a push that started after since
// and after the last failed push has succeeded.
func (r *probeRun) writesBack(ctx context.Context, since time.Time) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if pushedSince(r.rec.Requests(), since) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// pushedSince: the last push that started after since succeeded.
func pushedSince(reqs []probe.Request, since time.Time) bool {
	ok := false
	for _, q := range reqs {
		if q.Kind == probe.Push && q.Start.After(since) {
			ok = !q.Failed()
		}
	}
	return ok
}

// cleanupTimeout bounds deleting the probe's repository.
const cleanupTimeout = time.Minute

// cleanup deletes the probe's repository once the fault is judged: a
// drill leaves no images behind (their blobs go with Harbor's next
// garbage collection). It says what is left when it cannot.
func (r *probeRun) cleanup(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.p.DeleteRepository(ctx); err != nil {
		return fmt.Sprintf("the probe's images are left in repository %s: %v: delete it in Harbor", r.p.Repository(), err)
	}
	return ""
}

// stop ends the loop and returns every request, in start order.
func (r *probeRun) stop() []probe.Request {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
	return r.rec.Requests()
}

// goneTimeout bounds pulling back the images pushed during a fault.
const goneTimeout = 30 * time.Second

// gone pulls back, once the fault is over, every image the probe pushed
// and Harbor acknowledged, and returns those it no longer has: a write
// lost, where a 404 during the fault alone could be a moment's
// inconsistency, and an image the loop never pulled again is checked too.
func (r *probeRun) gone(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, goneTimeout)
	defer cancel()
	return r.p.Gone(ctx, r.p.Digests())
}

// lostVerdict says what images acknowledged and gone mean after fault.
func lostVerdict(fault string, lost int) string {
	s := fmt.Sprintf("%d image(s) Harbor acknowledged are gone (unknown when every pushed image was pulled back after the fault)", lost)
	if strings.HasPrefix(fault, drillDatabase+"/") {
		s += ": the new primary never had their rows, PostgreSQL replicating asynchronously (Patroni's default); only synchronous replication keeps an acknowledged push through a failover"
	}
	return s
}

// judge adds the probe's figures to the fault's result: a failed pull,
// an acknowledged image gone or writes not back within --timeout are
// findings, other failed requests a warning.
func (o *Options) judge(res *DrillResult, reqs []probe.Request, lost []string, at time.Time, back bool) {
	fig := probe.Summarize(reqs, at)
	fig.LongestFailureRunSeconds = round(fig.LongestFailureRunSeconds)
	fig.RecoveredSeconds = round(fig.RecoveredSeconds)
	res.Figures = &fig
	res.FirstWriteSeconds = firstWrite(reqs, at)
	res.WriteAfterOverSeconds = endAfter(reqs, at.Add(time.Duration(res.Seconds*float64(time.Second))), probe.Kind.Writes)
	res.PushSeconds = pushBefore(reqs, at)
	if c := res.ClusterFault; c != nil {
		c.WriteAfterLabelledSeconds, c.PushAfterLabelledSeconds = -1, -1
		if c.NewPrimary != "" {
			labelled := at.Add(time.Duration(c.RoleMovedSeconds * float64(time.Second)))
			c.WriteAfterLabelledSeconds = endAfter(reqs, labelled, probe.Kind.Writes)
			c.PushAfterLabelledSeconds = endAfter(reqs, labelled, isPush)
		}
	}
	res.Failures, res.FailedAfterOver = failures(reqs, at, res.Seconds)
	var verdicts []string
	status := OK
	if n := fig.ByKind[probe.Pull].Failed; n > 0 {
		status, verdicts = Finding, append(verdicts, fmt.Sprintf("%d of %d pulls failed", n, fig.ByKind[probe.Pull].Requests))
	}
	if res.LostImages = lost; len(lost) > 0 {
		status, verdicts = Finding, append(verdicts, lostVerdict(res.Fault, len(lost)))
	}
	if !back && res.Status != Unchecked && res.Status != Finding {
		status, verdicts = Finding, append(verdicts, fmt.Sprintf("Harbor's writes not back within --timeout %s", o.Timeout))
	}
	if status == OK && fig.FailedRequests > 0 {
		status = Warning
	}
	res.Status = worse(res.Status, status)
	if len(verdicts) > 0 {
		res.Message += "; " + strings.Join(verdicts, "; ")
	}
}

// firstWrite is the seconds from at to the end of the first successful
// write (a push or an API write) that started after it, -1 when there is
// none.
func firstWrite(reqs []probe.Request, at time.Time) float64 {
	for _, q := range reqs {
		if q.Kind.Writes() && !q.Failed() && !q.Start.Before(at) {
			return seconds(at, q.Start.Add(q.Duration))
		}
	}
	return -1
}

// endAfter is the seconds from over to the first end after it of a
// successful request of a kind counted (probe.FirstEndAfter); -1 when
// there is none.
func endAfter(reqs []probe.Request, over time.Time, counted func(probe.Kind) bool) float64 {
	end, ok := probe.FirstEndAfter(reqs, over, counted)
	if !ok {
		return -1
	}
	return seconds(over, end)
}

func isPush(k probe.Kind) bool { return k == probe.Push }

// pushBefore is the median seconds of the successful pushes that ended
// before at, -1 when there is none.
func pushBefore(reqs []probe.Request, at time.Time) float64 {
	var took []float64
	for _, q := range reqs {
		if q.Kind == probe.Push && !q.Failed() && !q.Start.Add(q.Duration).After(at) {
			took = append(took, q.Duration.Seconds())
		}
	}
	if len(took) == 0 {
		return -1
	}
	slices.Sort(took)
	mid := len(took) / 2
	if len(took)%2 == 0 {
		return round((took[mid-1] + took[mid]) / 2)
	}
	return round(took[mid])
}

// round is to 10 ms, as the drill's other seconds.
func round(s float64) float64 { return math.Round(s*100) / 100 }

// failures lists the failed requests timed from at, and counts those
// that started once the fault was over (over seconds after at; 0: it
// never was, and none is counted).
func failures(reqs []probe.Request, at time.Time, over float64) ([]Failure, int) {
	var out []Failure
	after := 0
	for _, q := range reqs {
		if !q.Failed() {
			continue
		}
		f := Failure{Kind: q.Kind, AtSeconds: seconds(at, q.Start), Seconds: round(q.Duration.Seconds()), Error: q.Err}
		if over > 0 && f.AtSeconds >= over {
			after++
		}
		if len(out) < maxFailures {
			out = append(out, f)
		}
	}
	return out, after
}

// worse is the status that weighs more: a finding, then unchecked, then a
// warning.
func worse(a, b Status) Status {
	rank := map[Status]int{OK: 0, Warning: 1, Unchecked: 2, Finding: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
