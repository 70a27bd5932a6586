package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe"
)

func TestConfirm(t *testing.T) {
	r := &Report{Release: release, Namespace: ns}
	pg := &target{addr: address{engine: discover.PostgreSQL}, cluster: &discover.Cluster{Name: "mypg", Namespace: ns, Engine: discover.PostgreSQL}}
	faults := []fault{
		&podFault{t: drillTarget{component: "core", desired: 2, ready: 2}},
		&podFault{t: drillTarget{component: "trivy", desired: 1, ready: 1}}, // not drilled: not named
		&podFault{t: drillTarget{component: "portal", desired: 2, ready: 2}},
		&clusterFault{kind: drillDatabase, t: pg},
	}
	plan := "deletes one pod of each of core, portal; switches over (OpsRequest) the primary of PostgreSQL harbor/mypg"
	tests := []struct {
		name     string
		yes, tty bool
		answer   string
		err      string
	}{
		{name: "--yes asks nothing", yes: true},
		{name: "no terminal, no --yes: refused", err: "--drill " + plan + ": confirm on a terminal, or pass --yes"},
		{name: "yes on the terminal", tty: true, answer: "y\n"},
		{name: "YES on the terminal", tty: true, answer: "YES\n"},
		{name: "anything else cancels", tty: true, answer: "sure\n", err: "drill cancelled: nothing was deleted"},
		{name: "end of input cancels", tty: true, err: "drill cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt bytes.Buffer
			o := &Options{Yes: tt.yes, isTerminal: func(io.Reader) bool { return tt.tty }}
			err := o.confirm(r, faults, command.Streams{In: strings.NewReader(tt.answer), Err: &prompt})
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			asked := strings.Contains(prompt.String(), plan+" (release myharbor, namespace harbor)")
			if asked != (tt.tty && !tt.yes) {
				t.Errorf("prompt %q", prompt.String())
			}
		})
	}
	crash := &clusterFault{kind: drillRedis, crash: true, t: pg}
	if got := confirmation([]fault{crash}); got != "deletes the primary pod (no grace period) of PostgreSQL harbor/mypg" {
		t.Errorf("crash: %q", got)
	}
}

// A controller of the test's own replaces each deleted pod: a new pod,
// not Ready, that turns Ready after a moment. With crash, it also deletes
// the component's other pods first (the component goes down).
type replacer struct {
	c     *kube.Client
	crash bool
	off   bool // replaces nothing: the drill times out
}

func (rp *replacer) run(ctx context.Context, t *testing.T) {
	pods := rp.c.Typed.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	go func() {
		defer w.Stop()
		n := 0
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Deleted || rp.off || strings.HasPrefix(p.Name, "new-") {
				continue
			}
			if rp.crash {
				l, _ := pods.List(ctx, metav1.ListOptions{})
				for _, other := range l.Items {
					if other.Labels["component"] == p.Labels["component"] && !strings.HasPrefix(other.Name, "new-") {
						pods.Delete(ctx, other.Name, metav1.DeleteOptions{})
					}
				}
			}
			for range 1 + btoi(rp.crash) {
				n++
				np := p.DeepCopy()
				np.Name, np.UID, np.ResourceVersion = fmt.Sprintf("new-%d", n), ktypes.UID(fmt.Sprintf("new-%d", n)), ""
				np.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
				created, err := pods.Create(ctx, np, metav1.CreateOptions{})
				if err != nil {
					continue
				}
				time.Sleep(20 * time.Millisecond)
				created.Status.Conditions[0].Status = corev1.ConditionTrue
				pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
			}
		}
	}()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The pod drill, with the probe through a fake Harbor throughout: each
// drillable component loses a pod and is judged by its Ready count and by
// the probe's requests.
func TestPodDrill(t *testing.T) {
	tests := []struct {
		name    string
		rp      replacer
		timeout time.Duration // generous where the replacer must win: machines are loaded
		status  Status
		says    string
	}{
		{"replaced, never below 1 Ready", replacer{}, time.Minute, OK, "2 Ready pods again after"},
		{"down in between", replacer{crash: true}, time.Minute, Finding, "had 0 Ready pods before it was back at 2"},
		{"not replaced in time", replacer{off: true}, 300 * time.Millisecond, Finding, "not back at 2 Ready pods within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDrill(t, func(w *world) { w.scale("myharbor-trivy", 1) }) // not drilled: one pod
			d.o.Timeout, d.o.Drill = tt.timeout, drillPod
			rp := tt.rp
			rp.c = d.c
			rp.run(t.Context(), t)
			results := d.run(t)
			if len(results) != 6 {
				t.Fatalf("%d results: %+v", len(results), results)
			}
			for _, res := range results {
				if res.Component == "trivy" {
					if res.Status != Warning || !strings.Contains(res.Message, "not drilled: 1 of 1 Ready") || res.Figures != nil {
						t.Errorf("trivy: %+v", res)
					}
					continue
				}
				if res.Fault != "pod/"+res.Component || res.Status != tt.status || !strings.Contains(res.Message, tt.says) || res.Pod == "" {
					t.Errorf("%s: %+v, want %s saying %q", res.Component, res, tt.status, tt.says)
				}
				if want := map[Status]int{OK: 1, Finding: 0}[tt.status]; tt.name != "not replaced in time" && res.MinReady != want {
					t.Errorf("%s: fewest Ready %d, want %d", res.Component, res.MinReady, want)
				}
				// The fake Harbor never fails: every request of the probe succeeded, pushes and pulls among them.
				if f := res.Figures; f == nil || f.FailedRequests != 0 || f.ByKind[probe.Push].Requests == 0 || f.ByKind[probe.Write].Requests == 0 || f.DigestsChecked == 0 {
					t.Errorf("%s: probe figures %+v", res.Component, f)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"myharbor"}, ""},
		{[]string{"myharbor", "--drill", "--yes", "--timeout=1m", "-o", "json"}, ""},
		{[]string{}, "doctor needs the Helm release name"},
		{[]string{"a", "b"}, "doctor needs the Helm release name, and only that argument"},
		{[]string{"myharbor", "--yes"}, "--yes confirms the drill: add --drill"},
		{[]string{"myharbor", "--pending-after=0s"}, "--pending-after 0s: use a positive duration"},
		{[]string{"myharbor", "--drill", "--timeout=-1s"}, "--timeout -1s: use a positive duration"},
		{[]string{"myharbor", "-o", "yaml"}, "use one of text or json"},
		{[]string{"myharbor", "--drill=database,redis", "--crash", "--yes"}, ""},
		{[]string{"myharbor", "--drill=database", "--yes", "-o", "json", "--harbor-url", "http://10.0.0.1:30002", "--harbor-password-stdin"}, ""},
		{[]string{"myharbor", "--drill=disk"}, "--drill=disk: use pod, database or redis"},
		{[]string{"myharbor", "--drill", "--crash"}, "--crash deletes a database's or Redis's primary: add --drill=database"},
		{[]string{"myharbor", "--harbor-url=http://h"}, "the --harbor-* flags tell the drill's probe how to reach Harbor: add --drill"},
		{[]string{"myharbor", "--harbor-project=team-a"}, "the --harbor-* flags tell the drill's probe how to reach Harbor: add --drill"},
		{[]string{"myharbor", "--drill", "--harbor-project="}, "--harbor-project is empty: give an existing project the probe may push to (library)"},
		{[]string{"myharbor", "--drill", "--yes", "--harbor-project=team-a"}, ""},
		{[]string{"myharbor", "--drill=redis", "--harbor-password-stdin"}, "--harbor-password-stdin takes stdin, where the drill would ask for confirmation: add --yes"},
		{[]string{"myharbor", "--drill", "--settle=-1s"}, "--settle -1s"},
		{[]string{"myharbor", "--drill", "database"}, "--drill database: write --drill=database (--drill alone is the pod drill)"},
	} {
		var o Options
		fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.AddFlags(fs)
		err := fs.Parse(tt.args)
		if err == nil {
			err = o.Complete(fs.Args())
		}
		if err == nil {
			err = o.Validate()
		}
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.err)
		}
	}
}

// --drill alone is the pod drill; a value chooses, a comma list runs in
// turn, each once.
func TestDrillFlag(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		kinds []string
	}{
		{[]string{"myharbor"}, nil},
		{[]string{"myharbor", "--drill"}, []string{"pod"}},
		{[]string{"myharbor", "--drill", "--yes"}, []string{"pod"}},
		{[]string{"myharbor", "--drill=database"}, []string{"database"}},
		{[]string{"myharbor", "--drill=Redis, pod,redis"}, []string{"redis", "pod"}},
	} {
		var o Options
		fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		kinds, err := drillKinds(o.Drill)
		if err != nil || !slices.Equal(kinds, tt.kinds) {
			t.Errorf("%v: %v %v, want %v", tt.args, kinds, err, tt.kinds)
		}
	}
}

// TestWriteAfter: writes are back when a push ends successfully after the
// fault is over, a push held through it included; failed pushes, pulls
// and pushes that ended before do not count.
func TestWriteAfter(t *testing.T) {
	over := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	req := requestsAt(over)
	for _, tt := range []struct {
		name string
		reqs []probe.Request
		want float64
	}{
		{"none", nil, -1},
		{"held through the fault", []probe.Request{req(probe.Push, -1.5, 2.25, "")}, 0.75},
		{"the first to end wins", []probe.Request{req(probe.Push, 0.1, 3, ""), req(probe.Push, -0.5, 1.7, "")}, 1.2},
		{"ended before", []probe.Request{req(probe.Push, -2, 1.5, ""), req(probe.Push, 1, 1, "")}, 2},
		{"failed and pulls ignored", []probe.Request{req(probe.Push, 0, 0.5, "HTTP 500"), req(probe.Pull, 0, 0.2, ""), req(probe.Push, 0.4, 0.6, "")}, 1},
		{"only failures", []probe.Request{req(probe.Push, 0, 0.5, "HTTP 500")}, -1},
		{"an API write ends before a push", []probe.Request{req(probe.Push, -0.5, 1.7, ""), req(probe.Write, 0.1, 0.05, ""), req(probe.API, 0, 0.01, "")}, 0.15},
		{"an API write held through the fault", []probe.Request{req(probe.Write, -1, 1.3, ""), req(probe.Write, 0, 0.05, "HTTP 500")}, 0.3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := endAfter(tt.reqs, over, probe.Kind.Writes); got != tt.want {
				t.Errorf("endAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWriteAfterLabelled: a database fault's writes are also timed from
// the new primary's label, which comes before its Service follows; no new
// primary, no figure; pod faults have none.
func TestWriteAfterLabelled(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	req := requestsAt(at)
	// Labelled at 1 s, the Service at 2 s: an API write held through
	// the fault ends at 1.1 s, the held push at 1.3 s, the next at 2.5 s,
	// a write at 2.2 s.
	reqs := []probe.Request{req(probe.Push, -0.5, 1.8, ""), req(probe.Write, 0.5, 0.6, ""), req(probe.Push, 1.3, 1.2, ""), req(probe.Write, 2.15, 0.05, "")}
	for _, tt := range []struct {
		name                   string
		res                    DrillResult
		labelled, pushLabelled float64
		overS                  float64
		wantClusterFault       bool
	}{
		{"switchover", DrillResult{Seconds: 2, ClusterFault: &ClusterFault{NewPrimary: "mypg-postgresql-1", RoleMovedSeconds: 1, ServiceFollowedSeconds: 2}}, 0.1, 0.3, 0.2, true},
		{"no new primary", DrillResult{Seconds: 2, ClusterFault: &ClusterFault{}}, -1, -1, 0.2, true},
		{"a pod fault", DrillResult{Seconds: 2, PodFault: &PodFault{}}, 0, 0, 0.2, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.res
			(&Options{}).judge(&res, reqs, nil, at, true)
			if got := round(res.WriteAfterOverSeconds); got != tt.overS {
				t.Errorf("writeAfterOverSeconds %v, want %v", got, tt.overS)
			}
			if (res.ClusterFault != nil) != tt.wantClusterFault {
				t.Fatalf("cluster fault %v, want %v", res.ClusterFault, tt.wantClusterFault)
			}
			if res.ClusterFault != nil && (round(res.WriteAfterLabelledSeconds) != tt.labelled || round(res.PushAfterLabelledSeconds) != tt.pushLabelled) {
				t.Errorf("writeAfterLabelledSeconds %v, pushAfterLabelledSeconds %v, want %v, %v",
					res.WriteAfterLabelledSeconds, res.PushAfterLabelledSeconds, tt.labelled, tt.pushLabelled)
			}
		})
	}
}

// TestPushBefore: how long a push takes is the median of the successful
// pushes that ended before the fault; failed ones, pulls and pushes held
// across the fault do not count.
func TestPushBefore(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	req := requestsAt(at)
	for _, tt := range []struct {
		name string
		reqs []probe.Request
		want float64
	}{
		{"none", nil, -1},
		{"odd", []probe.Request{req(probe.Push, -3, 0.9, ""), req(probe.Push, -2, 0.8, ""), req(probe.Push, -1, 0.95, "")}, 0.9},
		{"even", []probe.Request{req(probe.Push, -3, 0.8, ""), req(probe.Push, -2, 1, "")}, 0.9},
		{"held across the fault, failed and pulls ignored", []probe.Request{req(probe.Push, -0.5, 2, ""), req(probe.Push, -2, 0.1, "HTTP 500"),
			req(probe.Pull, -2, 0.2, ""), req(probe.Push, -3, 0.85, "")}, 0.85},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := pushBefore(tt.reqs, at); got != tt.want {
				t.Errorf("pushBefore = %v, want %v", got, tt.want)
			}
		})
	}
}

// requestsAt makes the probe's requests timed in seconds from at.
func requestsAt(at time.Time) func(kind probe.Kind, startS, durS float64, err string) probe.Request {
	return func(kind probe.Kind, startS, durS float64, err string) probe.Request {
		return probe.Request{Kind: kind, Start: at.Add(time.Duration(startS * float64(time.Second))), Duration: time.Duration(durS * float64(time.Second)), Err: err}
	}
}

// The drill's seconds are JSON's shortest form: 1.59, not the
// 1.5899999999999999 that Duration.Seconds gives.
func TestSecondsAreShort(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for ms, want := range map[int]string{1590: "1.59", 2280: "2.28", 1594: "1.59", 1596: "1.6", -490: "-0.49", 0: "0"} {
		b, err := json.Marshal(seconds(at, at.Add(time.Duration(ms)*time.Millisecond)))
		if err != nil || string(b) != want {
			t.Errorf("%d ms: %s %v, want %s", ms, b, err, want)
		}
	}
}
