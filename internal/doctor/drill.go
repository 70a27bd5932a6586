package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe"
)

// The drills --drill names.
const (
	drillPod      = "pod"
	drillDatabase = "database"
	drillRedis    = "redis"
)

// DefaultBaseline is how long the probe runs before each fault: the
// requests that fail only under the fault stand out against it.
const DefaultBaseline = 3 * time.Second

// DrillResult is one fault of the drill: what was broken, how long until
// it was over, and what it cost the requests of a probe through Harbor.
// Pod faults fill PodFault, database and Redis faults ClusterFault; the
// probe's figures are inline (nil when the fault did not run).
type DrillResult struct {
	Fault string `json:"fault"` // pod/core, database/switchover, database/crash, redis/switchover, redis/crash
	*PodFault
	*ClusterFault
	// Seconds is from the fault until it was over: the component back at
	// its Ready count, or the Service at the new primary.
	Seconds float64 `json:"seconds"`
	*probe.Figures
	// FirstWriteSeconds is from the fault to the end of the first
	// successful write (a push or the probe's API write) that started
	// after it (-1: none).
	FirstWriteSeconds float64 `json:"firstWriteSeconds"`
	// WriteAfterOverSeconds is from the fault being over (Seconds after
	// it: the new primary labelled and its Service at it, the pods Ready)
	// to the end of the first successful write that ended after that: how
	// soon writes were back once they could be, a write held through the
	// fault included (-1: none).
	WriteAfterOverSeconds float64 `json:"writeAfterOverSeconds"`
	// PushSeconds is how long a push took before the fault (the median
	// of those that succeeded): a push-only figure cannot be less (-1: no
	// push before the fault).
	PushSeconds float64 `json:"pushSeconds"`
	// FailedAfterOver counts the failed requests that started once the
	// fault was over (Seconds after it): the ones a better configuration
	// could save, as no fault excuses them any more.
	FailedAfterOver int `json:"failedAfterOver"`
	// Failures are the failed requests in start order (at most
	// maxFailures), timed from the fault.
	Failures []Failure `json:"failures,omitempty"`
	// LostImages are the digests of images Harbor acknowledged and no
	// longer has once the fault is over.
	LostImages []string `json:"lostImages,omitempty"`
	Status     Status   `json:"status"`
	Message    string   `json:"message"`
}

// Failure is one failed request of the probe: its kind, when it started
// (seconds from the fault, negative before it), how long it took and its
// error.
type Failure struct {
	Kind      probe.Kind `json:"kind"`
	AtSeconds float64    `json:"atSeconds"`
	Seconds   float64    `json:"seconds"`
	Error     string     `json:"error"`
}

// maxFailures bounds the failures listed per fault.
const maxFailures = 100

// PodFault is a Harbor pod deleted: the component, the pod, and the
// fewest Ready pods the component had meanwhile (0 means it was down).
type PodFault struct {
	Component string `json:"component"`
	Pod       string `json:"pod,omitempty"`
	Desired   int    `json:"desired"`
	MinReady  int    `json:"minReady"`
}

// ClusterFault is a KubeBlocks cluster's primary switched over or
// deleted, and when the role label and the primary Service followed.
type ClusterFault struct {
	Cluster                string  `json:"cluster"` // namespace/name
	OpsRequest             string  `json:"opsRequest,omitempty"`
	OldPrimary             string  `json:"oldPrimary,omitempty"`
	NewPrimary             string  `json:"newPrimary,omitempty"`
	RoleMovedSeconds       float64 `json:"roleMovedSeconds"`
	ServiceFollowedSeconds float64 `json:"serviceFollowedSeconds"`
	// WriteAfterLabelledSeconds is from the new primary labelled to the
	// end of the first successful write that ended after that, one held
	// through the fault included: writes measured against the moment the
	// operator named the new primary, before kube-proxy made its Service
	// follow (-1: no write, or no new primary). The probe's API write
	// (tens of milliseconds, one every 200 ms) resolves it;
	// PushAfterLabelledSeconds is the same for pushes alone, which
	// cannot be less than a push takes (PushSeconds).
	WriteAfterLabelledSeconds float64 `json:"writeAfterLabelledSeconds"`
	PushAfterLabelledSeconds  float64 `json:"pushAfterLabelledSeconds"`
}

// A fault is one thing the drill breaks, and how to tell that it is over.
type fault interface {
	name() string
	// describe says what it breaks, for the confirmation: a verb phrase
	// and its subject, or "" when the fault will not be drilled.
	describe() (what, subject string)
	// prepare finds what to break and starts watching, before the probe
	// starts; a non-empty skip means the fault is not drilled, and why.
	prepare(ctx context.Context, res *DrillResult) (skip string, err error)
	inject(ctx context.Context) error
	// await follows the fault until it is over (or ctx ends) and records
	// it in res, with the status and message of the fault itself.
	await(ctx context.Context, at time.Time, res *DrillResult)
	close()
}

// drillKinds reads --drill: a comma list of pod, database and redis.
func drillKinds(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		if !slices.Contains([]string{drillPod, drillDatabase, drillRedis}, k) {
			return nil, fmt.Errorf("--drill=%s: use pod, database or redis (a comma list runs them in turn)", s)
		}
		out = appendNew(out, k)
	}
	return out, nil
}

// drillAll plans the faults, finds Harbor and logs in to it, asks, then
// runs the faults one after another. An error means nothing was broken.
func (o *Options) drillAll(ctx context.Context, c *kube.Client, r *Report, s command.Streams) error {
	faults, err := o.plan(c, r)
	if err != nil {
		return err
	}
	target, err := o.harborTarget(ctx, c, r, s.In)
	if err != nil {
		return err
	}
	if err := o.confirm(r, faults, s); err != nil {
		return err
	}
	o.progress = s.Err
	for _, f := range faults {
		r.Drill = append(r.Drill, o.runFault(ctx, f, target))
	}
	return nil
}

// plan is the faults of --drill, in its order.
func (o *Options) plan(c *kube.Client, r *Report) ([]fault, error) {
	kinds, err := drillKinds(o.Drill)
	if err != nil {
		return nil, err
	}
	var out []fault
	for _, k := range kinds {
		switch k {
		case drillPod:
			for _, t := range r.targets {
				out = append(out, &podFault{c: c, t: t})
			}
		default:
			fs, err := o.clusterFaults(c, r, k)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
		}
	}
	return out, nil
}

// confirm asks before the drill breaks anything, unless --yes; without a
// terminal to ask on, it refuses.
func (o *Options) confirm(r *Report, faults []fault, s command.Streams) error {
	plan := confirmation(faults)
	if o.Yes || plan == "" {
		return nil
	}
	isTerminal := o.isTerminal
	if isTerminal == nil {
		isTerminal = terminal
	}
	if !isTerminal(s.In) {
		return fmt.Errorf("--drill %s: confirm on a terminal, or pass --yes", plan)
	}
	fmt.Fprintf(s.Err, "doctor --drill %s (release %s, namespace %s), one after another, waiting for each to be over. Continue? [y/N] ",
		plan, r.Release, r.Namespace)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return errors.New("drill cancelled: nothing was deleted")
}

// confirmation says what the faults break, the subjects of one verb
// phrase together: "deletes one pod of each of core, portal; switches over
// the primary of PostgreSQL harbor/mypg".
func confirmation(faults []fault) string {
	var whats []string
	subjects := map[string][]string{}
	for _, f := range faults {
		if what, subject := f.describe(); what != "" {
			whats = appendNew(whats, what)
			subjects[what] = append(subjects[what], subject)
		}
	}
	parts := make([]string, len(whats))
	for i, w := range whats {
		parts[i] = w + " " + strings.Join(subjects[w], ", ")
	}
	return strings.Join(parts, "; ")
}

func terminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runFault probes Harbor from a baseline before the fault until writes
// are back and --settle after, and judges the fault by both.
func (o *Options) runFault(ctx context.Context, f fault, target probe.Target) DrillResult {
	res := DrillResult{Fault: f.name(), FirstWriteSeconds: -1, WriteAfterOverSeconds: -1, PushSeconds: -1}
	skip, err := f.prepare(ctx, &res)
	defer f.close()
	switch {
	case err != nil:
		return o.unchecked(res, err)
	case skip != "":
		res.Status, res.Message = Warning, "not drilled: "+skip
		return res
	}
	run, err := startProbe(ctx, target, o.probeLoad())
	if err != nil {
		return o.unchecked(res, err)
	}
	sleep(ctx, o.baselineOrDefault())
	faultCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	at := time.Now()
	if err := f.inject(faultCtx); err != nil {
		run.stop()
		return o.unchecked(res, err)
	}
	o.say("%s: injected, waiting up to %s for it to be over and writes to be back", res.Fault, o.Timeout)
	f.await(faultCtx, at, &res)
	back := res.Status != Unchecked && run.writesBack(faultCtx, time.Now())
	if back {
		sleep(ctx, o.Settle)
	}
	reqs := run.stop()
	o.judge(&res, reqs, run.gone(ctx), at, back)
	if left := run.cleanup(ctx); left != "" {
		res.Message += "; " + left
	}
	o.say("%s: %s", res.Fault, res.Message)
	return res
}

func (o *Options) unchecked(res DrillResult, err error) DrillResult {
	res.Status, res.Message = Unchecked, err.Error()
	o.say("%s: %s", res.Fault, res.Message)
	return res
}

func (o *Options) say(format string, args ...any) {
	if o.progress != nil {
		fmt.Fprintf(o.progress, "harborha doctor: drill: "+format+"\n", args...)
	}
}

func (o *Options) baselineOrDefault() time.Duration {
	if o.baseline > 0 {
		return o.baseline
	}
	return DefaultBaseline
}

// probeLoad is the drills' probe, its pauses shortened in tests.
func (o *Options) probeLoad() probe.Load {
	l := probe.DrillLoad
	if o.probePause > 0 {
		l.Pause, l.WriteEvery = o.probePause, o.probePause
	}
	return l
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// seconds since at, rounded to 10 ms: the float nearest, so that JSON
// says 1.59 where Duration.Seconds of 1.59 s says 1.5899999999999999.
func seconds(at, t time.Time) float64 { return round(t.Sub(at).Seconds()) }
