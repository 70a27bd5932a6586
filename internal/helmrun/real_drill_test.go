package helmrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
	"github.com/harborha/helm-harborha/internal/doctor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe"
)

// TestRealHarbor: the real Harbor end to end (issue 20, real_e2e_test.go)
// and the drills of issue 21 on the same releases, one release's life per
// Helm major (an install, a rollout and an uninstall each cost a minute or
// more: one life serves both issues). The drills measure what each fault
// costs the users of a Harbor by a probe through
// Harbor itself (push a random image, pull it back with its digests
// checked, call the API; no retries) running from 5 s before the fault
// until 10 s after it is over:
//
//   - a rolling upgrade (every component's pod template changed);
//   - one pod of each component deleted, one component after the other,
//     each back at 2 Ready pods before the next (as `doctor --drill` does);
//   - a PostgreSQL switchover, then a PostgreSQL crash (the primary pod
//     deleted without grace, the standby promoted), then a Redis
//     switchover, each played as KubeBlocks' operator does
//     (kubetest.KBCluster).
//
// A node drain is not drilled: the node is the only one, so a drain
// cordons it and evicts every pod with nowhere to go: an outage by
// construction, which says nothing about the output.
//
// Two setups of the same chart (1.19.1), 2 replicas, the same clusters:
//   - ours: `helm harborha install` (bootstrap, overlay, post-render);
//   - values alone: plain `helm install` of the chart with the overlay of
//     `helm harborha values --bootstrapped RELEASE` and the chart's own
//     values for what the post-render would do otherwise (replicas, the
//     shared claim, the Redis password by redis.external.existingSecret,
//     which the chart reads with lookup under `helm install`). No
//     post-render.
//
// Our output's faults other than the rollout are `helm harborha doctor
// --drill=pod|database|redis [--crash] -o json`'s, its drill[] figures
// read (the test plays KubeBlocks' operator: kubetest serves OpsRequests).
// Figures are logged, one line per fault (`drill figures:`), and in a
// table at the end; what must hold is asserted: the probe made pushes and
// pulls, writes came back, doctor's report is well-formed, and with our
// output every request succeeds once the fault is over and no pull fails
// in a rollout or the pod drill. Targets beyond that are figures
// (docs/drills.md), not timed assertions.
//
// Cost: by default our output (issue 20's proof, then the faults), each
// fault once on Helm 3, and on Helm 4 every fault but the pod drill (make
// test-real: the pod drill is doctor's own and Helm plays no part in it,
// it is the longest fault, about 4.5 min).
// HARBORHA_DRILL_FULL=1 adds the values-alone setup and the pod drill on
// every major;
// HARBORHA_DRILL_HELM=3 (or 4, or 3,4) picks the majors,
// HARBORHA_DRILL_SETUPS=ours,alone the setups, HARBORHA_DRILL_RUNS=N
// repeats the faults, HARBORHA_DRILL_TEXT=1 logs doctor's text report of
// a database and a Redis drill (the README's), HARBORHA_DRILL_DOCTOR=0
// drives our output's faults in the test as for the chart alone, and
// HARBORHA_DRILL_FAULTS=rollout,"PostgreSQL crash",... runs only those.

// drillSetup is one way of installing the chart.
type drillSetup struct {
	name string
	// doctor: the faults other than the rollout are `helm harborha doctor
	// --drill`'s, its JSON the figures (ours, once doctor has them).
	doctor bool
	// podDrill: the pod drill runs (by default on the first major only).
	podDrill bool
	// only: the faults to run, all when empty (HARBORHA_DRILL_FAULTS).
	only    map[string]bool
	install func(t *testing.T, h *helmHome)
	// upgrade upgrades the release with its own values and extra flags.
	upgrade func(t *testing.T, h *helmHome, extra ...string)
	// redisUser is the setup's --redis-user on its major ("": the
	// cluster's account).
	redisUser string
}

// drillFigures is one fault's measure.
type drillFigures struct {
	major  int
	setup  string
	fault  string
	run    int
	faultS float64 // seconds the fault itself took (rollout, pods back, Service at the new primary)
	probe.Figures
}

func TestRealHarbor(t *testing.T) {
	began := time.Now()
	full := os.Getenv("HARBORHA_DRILL_FULL") == "1"
	majors, setups := []int{3, 4}, []string{"ours"}
	if full {
		setups = []string{"ours", "alone"}
	}
	if v := os.Getenv("HARBORHA_DRILL_HELM"); v != "" {
		majors = nil
		for _, m := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(m))
			if err != nil || (n != 3 && n != 4) {
				t.Fatalf("HARBORHA_DRILL_HELM=%q: want 3, 4 or 3,4", v)
			}
			majors = append(majors, n)
		}
	}
	if v := os.Getenv("HARBORHA_DRILL_SETUPS"); v != "" {
		setups = strings.Split(v, ",")
	}
	runs := 1
	if v := os.Getenv("HARBORHA_DRILL_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HARBORHA_DRILL_RUNS=%q: want a count of 1 or more", v)
		}
		runs = n
	}

	only := map[string]bool{}
	if v := os.Getenv("HARBORHA_DRILL_FAULTS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			if !slices.Contains(drillFaultNames, strings.TrimSpace(f)) {
				t.Fatalf("HARBORHA_DRILL_FAULTS: fault %q: want some of %q", f, drillFaultNames)
			}
			only[strings.TrimSpace(f)] = true
		}
	}

	r := startRealHarbor(t)
	var all []drillFigures
	for i, major := range majors {
		h := installPlugin(t, major)
		h.env = append(h.env, "KUBECONFIG="+r.c.Kubeconfig)
		for _, name := range setups {
			s := r.drillSetup(t, name, major)
			s.podDrill = i == 0 || full
			s.only = only
			ok := t.Run(fmt.Sprintf("helm%d/%s", major, s.name), func(t *testing.T) {
				all = append(all, r.drills(t, h, s, major, runs)...)
			})
			if !ok {
				break
			}
		}
	}
	t.Logf("drills: %v from the node's start (Helm %v, setups %v, %d runs)\n%s",
		time.Since(began).Round(time.Second), majors, setups, runs, drillTable(all))
}

// drillSetup is the setup called name on Helm major: ours or alone.
func (r *realHarbor) drillSetup(t *testing.T, name string, major int) drillSetup {
	switch name {
	case "ours":
		return drillSetup{name: "ours", doctor: doctorDrills(), redisUser: redisUserOf(major),
			install: r.install,
			upgrade: func(t *testing.T, h *helmHome, extra ...string) {
				args := append([]string{"harborha", "upgrade", realRelease, r.chart, "--wait", "--timeout", realUpgradeTimeout}, r.flags()...)
				h.run(t, 0, append(args, extra...)...)
			}}
	case "alone":
		var files []string
		dir := t.TempDir() // the setup's: its upgrades read the files too
		// Bootstrap's Secret has REDIS_USERNAME and REDIS_PASSWORD: the
		// chart alone reads it too.
		return drillSetup{name: "values alone", redisUser: realRedisACL,
			install: func(t *testing.T, h *helmHome) {
				files = r.aloneValues(t, h, dir)
				args := []string{"install", realRelease, r.chart, "-n", realNS, "--wait", "--timeout", realInstallTimeout}
				began := time.Now()
				h.run(t, 0, append(args, files...)...)
				t.Logf("helm install --wait (values alone): %v", time.Since(began).Round(100*time.Millisecond))
			},
			upgrade: func(t *testing.T, h *helmHome, extra ...string) {
				args := []string{"upgrade", realRelease, r.chart, "-n", realNS, "--wait", "--timeout", realUpgradeTimeout}
				h.run(t, 0, append(append(args, files...), extra...)...)
			}}
	}
	t.Fatalf("setup %q: want ours or alone", name)
	return drillSetup{}
}

// aloneValues are the -f flags of the chart configured through values
// alone: bootstrap (the role, database, Redis user and generated values'
// Secrets, which the chart cannot create), `helm harborha values
// --bootstrapped`, the images' values, and what our flags do otherwise
// written as the chart's values. No password is in any file.
func (r *realHarbor) aloneValues(t *testing.T, h *helmHome, dir string) []string {
	if _, err := r.c.Typed.CoreV1().PersistentVolumeClaims(realNS).Get(context.Background(), realClaim, metav1.GetOptions{}); err != nil {
		t.Fatalf("values alone uses the shared claim %s that our install creates: run ours first (HARBORHA_DRILL_SETUPS=ours,alone): %v", realClaim, err)
	}
	h.run(t, 0, "harborha", "bootstrap", realRelease, "-n", realNS, "--psql-image", r.tools, "--redis-image", r.tools, "--redis-user", r.redisUser)
	overlay := filepath.Join(dir, "overlay.yaml")
	h.run(t, 0, "harborha", "values", "-n", realNS, "--bootstrapped", realRelease, "--chart", r.chart,
		fmt.Sprintf("--node-port=%d", realNodePort), "-o", overlay)
	var b strings.Builder
	for _, comp := range realComponents {
		if comp != "registry" {
			fmt.Fprintf(&b, "%s:\n  replicas: 2\n", comp)
		}
	}
	fmt.Fprintf(&b, `registry:
  replicas: 2
metrics:
  enabled: true
redis:
  external:
    existingSecret: %s
persistence:
  persistentVolumeClaim:
    registry:
      existingClaim: %s
      subPath: registry
    jobservice:
      jobLog:
        existingClaim: %s
        subPath: jobservice
`, bootstrap.RedisSecretName(realRelease), realClaim, realClaim)
	alone := filepath.Join(dir, "alone.yaml")
	if err := os.WriteFile(alone, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-f", overlay, "-f", r.values, "-f", alone}
}

// drills installs the setup, proves ours serving (issue 20), runs every
// fault runs times, and uninstalls.
func (r *realHarbor) drills(t *testing.T, h *helmHome, s drillSetup, major, runs int) []drillFigures {
	r.redisUser = s.redisUser
	if !t.Run("install", func(t *testing.T) { s.install(t, h) }) {
		t.FailNow()
	}
	var p *probe.Probe
	if s.name == "ours" {
		p = r.proveServing(t, h)
	} else {
		p = r.login(t, "harborha-drill")
		r.pushPull(t, p)
	}
	r.settled(t)
	if s.doctor {
		r.c.ServeOpsRequests(t) // doctor asks for switchovers; the test plays the operator
	}
	var out []drillFigures
	for run := 1; run <= runs; run++ {
		rollout := fmt.Sprintf("helm%d-%d", major, run)
		for _, f := range r.faults(h, s, rollout) {
			if len(s.only) > 0 && !s.only[f.name] {
				continue
			}
			if f.name == podFault && !s.podDrill {
				t.Logf("%s: not on Helm %d (HARBORHA_DRILL_FULL=1 runs it on every major)", podFault, major)
				continue
			}
			// A failed fault does not stop the next: each starts settled.
			t.Run(fmt.Sprintf("%s/%d", f.name, run), func(t *testing.T) {
				began := time.Now()
				var took time.Duration
				var fig probe.Figures
				if f.doctor != nil {
					fig, took = r.doctorDrill(t, h, f.doctor, f.run)
				} else {
					fig = r.underLoad(t, p, s.name+": "+f.name, func(t *testing.T) { took = f.run(t) })
				}
				d := drillFigures{major: major, setup: s.name, fault: f.name, run: run, faultS: took.Seconds(), Figures: fig}
				t.Logf("drill figures: %s", d.line())
				out = append(out, d)
				if strings.HasPrefix(f.name, "PostgreSQL") {
					r.proxyLog(t, began)
				}
				r.settled(t)
				if s.name == "ours" && f.name == "rollout" {
					r.checkRolledOut(t, rollout)
				}
				r.served(t, p, s.name == "ours")
				if fig.ByKind[probe.Push].Requests == 0 || fig.ByKind[probe.Pull].Requests == 0 {
					t.Errorf("the probe made no push or no pull during %s", f.name)
				}
				if fig.RecoveredSeconds < 0 {
					t.Errorf("%s: writes never came back while the probe ran", f.name)
				}
				// What the levers (preStop pause, grace) must hold: a pod
				// that goes loses no pull. Figures of the chart alone are
				// only logged.
				if s.name == "ours" && (f.name == "rollout" || f.name == podFault) && fig.ByKind[probe.Pull].Failed > 0 {
					t.Errorf("%s with our output: %d of %d pulls failed, want 0", f.name, fig.ByKind[probe.Pull].Failed, fig.ByKind[probe.Pull].Requests)
				}
			})
		}
	}
	if s.doctor && os.Getenv("HARBORHA_DRILL_TEXT") == "1" {
		t.Run("doctor's text report", func(t *testing.T) {
			out, _, _ := r.runDoctor(t, h, []string{"--drill=database,redis"}, func(t *testing.T) time.Duration {
				return r.pg.PlaySwitchover(t, 2*time.Minute) + r.rd.PlaySwitchover(t, 2*time.Minute)
			})
			t.Logf("helm harborha doctor %s -n %s --drill=database,redis --yes:\n%s", realRelease, realNS, out)
		})
	}
	t.Run("uninstall", func(t *testing.T) { r.uninstall(t, h) })
	return out
}

const podFault = "pod of each component"

// proxyLog logs what each database proxy said since began (ours runs
// one beside core, jobservice and exporter): the server connections it
// lost, and whether each went on, on which server, after how long.
func (r *realHarbor) proxyLog(t *testing.T, began time.Time) {
	since := metav1.NewTime(began.Add(-time.Second))
	for _, comp := range []string{"core", "jobservice", "exporter"} {
		for _, pod := range r.podsOf(t, comp) {
			if !slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == contract.Container }) {
				continue
			}
			for _, l := range strings.Split(strings.TrimSpace(r.logs(t, pod.Name, contract.Container, &since)), "\n") {
				if l != "" {
					t.Logf("dbproxy %s: %s", pod.Name, l)
				}
			}
		}
	}
}

// drillFault is one fault; run returns how long the fault itself took.
// With doctor flags, doctor causes the fault and measures it, and run
// (optional) plays KubeBlocks' operator meanwhile.
type drillFault struct {
	name   string
	run    func(t *testing.T) time.Duration
	doctor []string
}

// drillFaultNames are the faults' names, in the order faults runs them.
var drillFaultNames = []string{"rollout", podFault, "PostgreSQL switchover", "PostgreSQL crash", "Redis switchover"}

func (r *realHarbor) faults(h *helmHome, s drillSetup, rev string) []drillFault {
	faults := []drillFault{
		{drillFaultNames[0], func(t *testing.T) time.Duration {
			began := time.Now()
			s.upgrade(t, h, rolloutArgs(rev)...)
			return time.Since(began)
		}, nil},
		{drillFaultNames[1], r.deleteOnePodEach, nil},
		{drillFaultNames[2], func(t *testing.T) time.Duration { return r.pg.Switchover(t) }, nil},
		{drillFaultNames[3], func(t *testing.T) time.Duration { return r.pg.Crash(t) }, nil},
		{drillFaultNames[4], func(t *testing.T) time.Duration { return r.rd.Switchover(t) }, nil},
	}
	if s.doctor {
		// The same faults, asked of doctor; the test plays KubeBlocks.
		const wait = 2 * time.Minute
		faults[1].doctor, faults[1].run = []string{"--drill=pod"}, nil
		faults[2].doctor, faults[2].run = []string{"--drill=database"}, func(t *testing.T) time.Duration { return r.pg.PlaySwitchover(t, wait) }
		faults[3].doctor, faults[3].run = []string{"--drill=database", "--crash"}, func(t *testing.T) time.Duration { return r.pg.PlayFailover(t, wait) }
		faults[4].doctor, faults[4].run = []string{"--drill=redis"}, func(t *testing.T) time.Duration { return r.rd.PlaySwitchover(t, wait) }
	}
	return faults
}

// deleteOnePodEach deletes one Ready pod of each component (graceful
// delete, as `doctor --drill` does), one after the other, each component
// back at 2 Ready pods before the next.
func (r *realHarbor) deleteOnePodEach(t *testing.T) time.Duration {
	began := time.Now()
	pods := r.c.Typed.CoreV1().Pods(realNS)
	for _, comp := range realComponents {
		ready := r.podsOf(t, comp)
		if len(ready) < 2 {
			t.Fatalf("%s: %d Ready pods before the drill, want 2", comp, len(ready))
		}
		victim := ready[0]
		del := time.Now()
		if err := pods.Delete(context.Background(), victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &victim.UID}}); err != nil {
			t.Fatalf("deleting pod %s: %v", victim.Name, err)
		}
		r.waitReady(t, comp, victim.UID)
		t.Logf("deleted %s: %s at 2 Ready pods again after %v", victim.Name, comp, time.Since(del).Round(100*time.Millisecond))
	}
	return time.Since(began)
}

// waitReady waits until comp has 2 Ready pods other than the one gone.
func (r *realHarbor) waitReady(t *testing.T, comp string, gone types.UID) {
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := r.c.Typed.CoreV1().Pods(realNS).List(ctx, metav1.ListOptions{LabelSelector: realSelector + ",component=" + comp})
		if err != nil {
			return false, nil
		}
		n := 0
		for _, p := range pods.Items {
			if p.UID != gone && p.DeletionTimestamp == nil && kube.PodReady(&p) {
				n++
			}
		}
		return n >= 2, nil
	})
	if err != nil {
		t.Fatalf("%s: not back at 2 Ready pods within 5m", comp)
	}
}

// settled waits until every component has 2 Ready pods and no pod is
// terminating: the next fault starts from a whole release.
func (r *realHarbor) settled(t *testing.T) {
	for _, comp := range realComponents {
		r.waitReady(t, comp, "")
	}
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := r.c.Typed.CoreV1().Pods(realNS).List(ctx, metav1.ListOptions{LabelSelector: realSelector})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal("pods of the release still terminating after 3m")
	}
}

// served: once the fault is over, a round of each request succeeds
// (asserted of our output; the chart alone's failures are logged).
func (r *realHarbor) served(t *testing.T, p *probe.Probe, must bool) {
	for _, rq := range append(p.Round(context.Background()), p.Write(context.Background())) {
		switch {
		case rq.Failed() && must:
			t.Errorf("after the fault: %s failed: %s", rq.Kind, rq.Err)
		case rq.Failed():
			t.Logf("after the fault: %s failed: %s", rq.Kind, rq.Err)
		}
	}
}

func (d drillFigures) line() string {
	k := d.ByKind
	return fmt.Sprintf("helm%d %s | %s | run %d | %d requests, %d failed (push %d/%d, pull %d/%d, api %d/%d, write %d/%d) | longest failure run %d (%.1fs) | writes back %.1fs | fault %.1fs | %d digests",
		d.major, d.setup, d.fault, d.run, d.Requests, d.FailedRequests,
		k[probe.Push].Failed, k[probe.Push].Requests, k[probe.Pull].Failed, k[probe.Pull].Requests, k[probe.API].Failed, k[probe.API].Requests, k[probe.Write].Failed, k[probe.Write].Requests,
		d.LongestFailureRun, d.LongestFailureRunSeconds, d.RecoveredSeconds, d.faultS, d.DigestsChecked)
}

func drillTable(all []drillFigures) string {
	var b strings.Builder
	for _, d := range all {
		fmt.Fprintf(&b, "  %s\n", d.line())
		for _, e := range d.Errors {
			fmt.Fprintf(&b, "      %s\n", e)
		}
	}
	return b.String()
}

// doctorDrills: our output's faults are doctor's drills, unless
// HARBORHA_DRILL_DOCTOR=0 makes the test drive them itself, as for the
// chart alone.
func doctorDrills() bool {
	return os.Getenv("HARBORHA_DRILL_DOCTOR") != "0"
}

// doctorDrill runs `helm harborha doctor RELEASE --yes -o json` with the
// drill flags while play (if any) plays KubeBlocks' operator, and sums the
// figures of its drill[] entries (the pod drill has one per component).
func (r *realHarbor) doctorDrill(t *testing.T, h *helmHome, flags []string, play func(t *testing.T) time.Duration) (probe.Figures, time.Duration) {
	out, code, took := r.runDoctor(t, h, append([]string{"-o", "json"}, flags...), play)
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Drill) == 0 {
		t.Fatalf("doctor %v: exit %d, %d drill entries, %v\n%s", flags, code, len(rep.Drill), err, out)
	}
	r.probeRepositoryGone(t)
	sum := probe.Figures{ByKind: map[probe.Kind]probe.Tally{}}
	for _, d := range rep.Drill {
		js, _ := json.Marshal(d)
		t.Logf("doctor drill %s: %s", d.Fault, js)
		if d.Fault == "" || d.Figures == nil || d.Requests == 0 || d.Status == "" || d.Message == "" {
			t.Errorf("doctor drill entry not well-formed (fault, probe figures, status, message): %s", js)
			continue
		}
		if d.Status == doctor.Unchecked {
			t.Errorf("doctor could not run the drill %s: %s", d.Fault, d.Message)
		}
		// What a lost image means: every pushed image is pulled back after
		// the fault; one that the loop found unknown (NOT_FOUND) and is
		// still unknown then is listed, and only a database fault, whose
		// standby may lack what the primary acknowledged, may lose one.
		notFound := false
		for _, f := range d.Failures {
			notFound = notFound || (f.Kind == probe.Pull && strings.Contains(f.Error, "NOT_FOUND"))
		}
		if len(d.LostImages) > 0 {
			t.Logf("doctor drill %s: %d acknowledged image(s) gone after the fault: %s", d.Fault, len(d.LostImages), d.Message)
		}
		if notFound && len(d.LostImages) == 0 {
			t.Logf("doctor drill %s: a pull found an image unknown during the fault, and it was there again afterwards", d.Fault)
		}
		if len(d.LostImages) > 0 && (!strings.HasPrefix(d.Fault, "database/") || d.Status != doctor.Finding) {
			t.Errorf("doctor drill %s (%s) lost %v: only a database fault may, and it is a finding", d.Fault, d.Status, d.LostImages)
		}
		sum.Requests += d.Requests
		sum.FailedRequests += d.FailedRequests
		for k, n := range d.ByKind {
			tl := sum.ByKind[k]
			tl.Requests += n.Requests
			tl.Failed += n.Failed
			sum.ByKind[k] = tl
		}
		if d.LongestFailureRun > sum.LongestFailureRun {
			sum.LongestFailureRun, sum.LongestFailureRunSeconds = d.LongestFailureRun, d.LongestFailureRunSeconds
		}
		if d.RecoveredSeconds < 0 || sum.RecoveredSeconds < 0 {
			sum.RecoveredSeconds = -1
		} else {
			sum.RecoveredSeconds = max(sum.RecoveredSeconds, d.RecoveredSeconds)
		}
		sum.DigestsChecked += d.DigestsChecked
		sum.Errors = append(sum.Errors, d.Errors...)
	}
	return sum, took
}

// probeRepositoryGone: doctor's drill deleted the repository its probe
// pushed to (Harbor's API, with the admin's Basic credentials, answers
// 404), where the end-to-end test's own repository is still there (200:
// the question is asked right).
func (r *realHarbor) probeRepositoryGone(t *testing.T) {
	t.Helper()
	status := func(repo string) int {
		req, err := http.NewRequest(http.MethodGet, r.url+"/api/v2.0/projects/library/repositories/"+repo, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", r.secret(t, realRelease+"-core", "HARBOR_ADMIN_PASSWORD"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("asking Harbor for repository %s: %v", repo, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("harborha-e2e"); got != http.StatusOK {
		t.Errorf("GET library/harborha-e2e (pushed by the end-to-end test): HTTP %d, want 200", got)
	}
	if got := status(probe.DefaultRepository); got != http.StatusNotFound {
		t.Errorf("after doctor's drill, GET library/%s: HTTP %d, want 404: the drill left its images behind", probe.DefaultRepository, got)
	}
}

// runDoctor runs `helm harborha doctor RELEASE --yes` with flags while
// play (if any) plays KubeBlocks' operator, logs its drill progress, and
// returns its stdout, its exit status and how long the fault took (play's
// answer, else doctor's run). The status is 1 on this node anyway (one
// node's findings); 2, a drill that could not run, fails the test.
func (r *realHarbor) runDoctor(t *testing.T, h *helmHome, flags []string, play func(t *testing.T) time.Duration) (string, int, time.Duration) {
	args := append([]string{"harborha", "doctor", realRelease, "-n", realNS, "--yes", "--harbor-url", r.url}, flags...)
	t.Logf("helm %s", strings.Join(args, " "))
	cmd := exec.Command(h.helm, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); done <- <-done })
	var took time.Duration
	if play != nil {
		took = play(t)
	}
	err := <-done
	done <- err // for the cleanup
	if took == 0 {
		took = time.Since(began)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("doctor: exit %d after %v; its progress:\n%s", code, time.Since(began).Round(100*time.Millisecond), errb.String())
	if code > 1 {
		t.Fatalf("doctor %v: exit %d (the drill could not run)\n%s", flags, code, out.String())
	}
	return out.String(), code, took
}
