package doctor

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/probe"
	"github.com/harborha/helm-harborha/internal/probe/probetest"
)

// adminPassword is the golden release's harborAdminPassword (core's
// Secret key HARBOR_ADMIN_PASSWORD).
const adminPassword = "Harbor12345"

// A drillRig is a world on the fakes, the checks' report of it, a fake
// Harbor the probe reaches through --harbor-url, and options with short
// waits.
type drillRig struct {
	w      *world
	c      *kube.Client
	harbor *probetest.Harbor
	r      *Report
	o      *Options
	stderr bytes.Buffer
}

func newDrill(t *testing.T, edit func(w *world)) *drillRig {
	t.Helper()
	d := &drillRig{w: newWorld(t), harbor: probetest.NewHarbor(t, adminPassword)}
	if edit != nil {
		edit(d.w)
	}
	d.c, _ = d.w.client()
	d.o = &Options{Release: release, PendingAfter: time.Minute, Timeout: time.Minute, Yes: true,
		Harbor:   HarborFlags{URL: d.harbor.URL, User: probetest.User, Project: "library"},
		baseline: 50 * time.Millisecond, Settle: 50 * time.Millisecond, probePause: 5 * time.Millisecond,
		now: func() time.Time { return d.w.now }}
	r, err := Diagnose(t.Context(), d.c, d.o)
	if err != nil {
		t.Fatal(err)
	}
	d.r = r
	return d
}

// serve makes the server serve an OpsRequest API (nil: none).
func (d *drillRig) serve(gvr *schema.GroupVersionResource) {
	fd := d.c.Typed.Discovery().(*fakediscovery.FakeDiscovery)
	fd.Resources = nil
	if gvr != nil {
		fd.Resources = []*metav1.APIResourceList{{GroupVersion: gvr.GroupVersion().String(), APIResources: []metav1.APIResource{{Name: gvr.Resource, Namespaced: true, Kind: "OpsRequest"}}}}
	}
	// The fakes do not generate names; KubeBlocks' OpsRequests get one.
	d.c.Dynamic.(*dynamicfake.FakeDynamicClient).PrependReactor("create", "opsrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		if u.GetName() == "" {
			u.SetName(u.GetGenerateName() + "x7k2p")
		}
		return false, nil, nil
	})
}

// run runs the drill as Run does after the checks.
func (d *drillRig) run(t *testing.T) []DrillResult {
	t.Helper()
	if err := d.runErr(t, ""); err != nil {
		t.Fatal(err)
	}
	return d.r.Drill
}

func (d *drillRig) runErr(t *testing.T, stdin string) error {
	t.Helper()
	if err := d.o.Validate(); err != nil {
		return err
	}
	return d.o.drillAll(t.Context(), d.c, d.r, command.Streams{In: strings.NewReader(stdin), Out: &bytes.Buffer{}, Err: &d.stderr})
}

// kbOperator plays KubeBlocks on the fakes: on the switchover's
// OpsRequest (with crash: on the primary pod's deletion) it moves
// kubeblocks.io/role from one pod to the other and the primary Service's
// EndpointSlice after it. Meanwhile no primary accepts writes: the fake
// Harbor fails them (and pulls too, with failPulls).
type kbOperator struct {
	d                 *drillRig
	from, to, service string
	crash, off, pulls bool
	staleService      bool // the Service's endpoint stays on the old primary
	lose              bool // Harbor forgets the image pushed last (async replication)
	mu                sync.Mutex
	ops               *unstructured.Unstructured
}

func (k *kbOperator) run(t *testing.T, gvr schema.GroupVersionResource) {
	var w watch.Interface
	var err error
	if k.crash {
		w, err = k.d.c.Typed.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{})
	} else {
		w, err = k.d.c.Dynamic.Resource(gvr).Namespace(ns).Watch(t.Context(), metav1.ListOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if k.crash {
				if p, ok := ev.Object.(*corev1.Pod); !ok || ev.Type != watch.Deleted || p.Name != k.from {
					continue
				}
			} else if ev.Type != watch.Added {
				continue
			} else {
				k.mu.Lock()
				k.ops = ev.Object.(*unstructured.Unstructured)
				k.mu.Unlock()
			}
			if !k.off {
				k.failover(t)
			}
		}
	}()
}

// failover: writes fail for a moment, the role moves, the Service
// follows, writes are back.
func (k *kbOperator) failover(t *testing.T) {
	h := k.d.harbor
	if k.lose {
		h.ForgetLatest() // acknowledged, and not on the standby promoted
	}
	h.FailingWrites.Store(true)
	h.Failing.Store(k.pulls)
	time.Sleep(30 * time.Millisecond)
	ctx, pods := context.Background(), k.d.c.Typed.CoreV1().Pods(ns)
	for name, role := range map[string]string{k.from: "secondary", k.to: "primary"} {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue // the crashed primary is gone
		}
		p.Labels[discover.LabelRole] = role
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if !k.staleService {
		s := endpointSlice(k.service, k.to)
		if _, err := k.d.c.Typed.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	h.FailingWrites.Store(false)
	h.Failing.Store(false)
}

func (k *kbOperator) opsRequest() *unstructured.Unstructured {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ops
}

func pgOperator(d *drillRig) *kbOperator {
	return &kbOperator{d: d, from: "mypg-postgresql-0", to: "mypg-postgresql-1", service: "mypg-postgresql-postgresql"}
}

// The database and Redis drills on the fakes: the OpsRequest asked for,
// the role label and the Service followed, the probe's figures judged.
func TestClusterDrill(t *testing.T) {
	tests := []struct {
		name     string
		drill    string
		crash    bool
		api      schema.GroupVersionResource
		operator func(k *kbOperator)
		timeout  time.Duration
		status   Status
		says     []string
		instance string // the OpsRequest's instanceName
		lost     int    // images acknowledged and gone
	}{
		{name: "switchover, KubeBlocks 1.0", drill: "database", api: opsRequests10, status: Warning, instance: "mypg-postgresql-0",
			says: []string{"OpsRequest mypg-harborha-switchover-x7k2p to switch over primary mypg-postgresql-0: mypg-postgresql-1 labelled primary after", "Service mypg-postgresql-postgresql at it after"}},
		{name: "switchover, KubeBlocks 0.9: any instance", drill: "database", api: opsRequests09, status: Warning, instance: "*",
			says: []string{"mypg-postgresql-1 labelled primary"}},
		{name: "crash", drill: "database", crash: true, status: Warning,
			says: []string{"deleted primary mypg-postgresql-0: mypg-postgresql-1 labelled primary after"}},
		{name: "pulls fail: a finding", drill: "database", api: opsRequests10, operator: func(k *kbOperator) { k.pulls = true }, status: Finding,
			says: []string{"pulls failed"}},
		{name: "an acknowledged push lost: a finding naming the cause", drill: "database", crash: true, operator: func(k *kbOperator) { k.lose = true }, status: Finding,
			says: []string{"1 image(s) Harbor acknowledged are gone", "PostgreSQL replicating asynchronously"}, lost: 1},
		{name: "no operator: the role never moves", drill: "database", api: opsRequests10, operator: func(k *kbOperator) { k.off = true }, timeout: 500 * time.Millisecond, status: Finding,
			says: []string{"no other pod labelled kubeblocks.io/role=primary within 500ms (OpsRequest no phase yet: is KubeBlocks' operator running?)"}},
		{name: "the Service does not follow", drill: "database", api: opsRequests10, operator: func(k *kbOperator) { k.staleService = true }, timeout: 500 * time.Millisecond, status: Finding,
			says: []string{"but Service mypg-postgresql-postgresql had no single ready endpoint away from mypg-postgresql-0 within 500ms"}},
		{name: "redis switchover", drill: "redis", api: opsRequests10, operator: func(k *kbOperator) {
			k.from, k.to, k.service = "myredis-redis-0", "myredis-redis-1", "myredis-redis-redis"
		}, status: Warning, instance: "myredis-redis-0", says: []string{"myredis-redis-1 labelled primary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDrill(t, nil)
			d.o.Drill, d.o.Crash = tt.drill, tt.crash
			if tt.timeout > 0 {
				d.o.Timeout = tt.timeout
			}
			d.serve(&tt.api)
			k := pgOperator(d)
			if tt.operator != nil {
				tt.operator(k)
			}
			k.crash = tt.crash
			k.run(t, tt.api)
			results := d.run(t)
			if len(results) != 1 {
				t.Fatalf("%d results: %+v", len(results), results)
			}
			res := results[0]
			wantFault := tt.drill + "/switchover"
			if tt.crash {
				wantFault = tt.drill + "/crash"
			}
			if res.Fault != wantFault || res.Status != tt.status || !containsAll(res.Message, tt.says) {
				t.Errorf("%s %s: %s, want %s %s saying %q", res.Fault, res.Status, res.Message, wantFault, tt.status, tt.says)
			}
			if res.ClusterFault == nil || res.OldPrimary != k.from {
				t.Fatalf("cluster fault %+v", res.ClusterFault)
			}
			if res.Status != Finding {
				// Over: the role moved before the Service followed; writes failed
				// during the failover and came back.
				if res.NewPrimary != k.to || res.RoleMovedSeconds <= 0 || res.ServiceFollowedSeconds < res.RoleMovedSeconds || res.Seconds != res.ServiceFollowedSeconds {
					t.Errorf("role and Service: %+v, seconds %v", res.ClusterFault, res.Seconds)
				}
				if res.ByKind[probe.Push].Failed == 0 || res.ByKind[probe.Write].Failed == 0 || res.RecoveredSeconds <= 0 || res.FirstWriteSeconds < 0 {
					t.Errorf("probe: %+v, first write %v", res.Figures, res.FirstWriteSeconds)
				}
				// The API writes resolve writes back after the label: never
				// later than the first push.
				if w, p := res.WriteAfterLabelledSeconds, res.PushAfterLabelledSeconds; w < 0 || p < 0 || w > p {
					t.Errorf("after the label: a write %v, a push %v", w, p)
				}
				// Each failure listed, timed from the fault (one in flight when
				// the fault hit started a moment before it).
				if len(res.Failures) != res.FailedRequests || res.Failures[0].AtSeconds < -1 || res.FailedAfterOver > res.FailedRequests {
					t.Errorf("failures %+v, %d after the fault was over, of %d", res.Failures, res.FailedAfterOver, res.FailedRequests)
				}
			}
			if len(res.LostImages) != tt.lost {
				t.Errorf("lost images %v, want %d", res.LostImages, tt.lost)
			}
			if tt.instance != "" {
				checkOpsRequest(t, k.opsRequest(), tt.api, k, tt.instance)
			}
		})
	}
}

// checkOpsRequest: the OpsRequest KubeBlocks would act on.
func checkOpsRequest(t *testing.T, u *unstructured.Unstructured, api schema.GroupVersionResource, k *kbOperator, instance string) {
	t.Helper()
	if u == nil {
		t.Fatal("no OpsRequest was created")
	}
	cluster, component, _ := strings.Cut(k.service, "-")
	component = strings.SplitN(component, "-", 2)[0]
	sw, _, _ := unstructured.NestedSlice(u.Object, "spec", "switchover")
	spec := u.Object["spec"].(map[string]any)
	if u.GetAPIVersion() != api.GroupVersion().String() || u.GetKind() != "OpsRequest" || spec["type"] != "Switchover" || spec["clusterName"] != cluster ||
		len(sw) != 1 || sw[0].(map[string]any)["componentName"] != component || sw[0].(map[string]any)["instanceName"] != instance {
		t.Errorf("OpsRequest %s %s: spec %v, want cluster %s component %s instance %s", u.GetAPIVersion(), u.GetKind(), spec, cluster, component, instance)
	}
}

// A drill that cannot start says why in one line, and breaks nothing.
func TestDrillCannotStart(t *testing.T) {
	selfSigned := httptest.NewTLSServer(http.NotFoundHandler())
	defer selfSigned.Close()
	tests := []struct {
		name  string
		edit  func(d *drillRig)
		stdin string
		err   string
	}{
		{"no OpsRequest API", func(d *drillRig) { d.serve(nil) },
			"", "the server serves no KubeBlocks OpsRequest API (operations.kubeblocks.io/v1alpha1 opsrequests, or apps.kubeblocks.io/v1alpha1 opsrequests before KubeBlocks 1.0) on https://fake:6443 (context \"fake\"): install KubeBlocks' CRDs, or drill with --crash"},
		{"no Harbor URL", func(d *drillRig) { d.o.Harbor.URL = ""; d.r.harbor.url = "" },
			"", "no Harbor URL: release myharbor's core has no EXT_ENDPOINT (the chart's externalURL): pass --harbor-url"},
		{"the release's URL unreachable", func(d *drillRig) { d.o.Harbor.URL = "" },
			"", "Harbor at http://10.0.0.1:30002 (from ConfigMap myharbor-core key EXT_ENDPOINT) cannot be reached from here"},
		{"a certificate not trusted", func(d *drillRig) { d.o.Harbor.URL = selfSigned.URL },
			"", "a certificate this machine does not trust: --harbor-insecure accepts it"},
		{"the Secret's password refused", func(d *drillRig) { d.harbor.Password = "changed-since" },
			"", `Harbor at {url} refused user "admin" with the password from Secret myharbor-core key HARBOR_ADMIN_PASSWORD (401): pass the current one with --harbor-password-stdin`},
		{"stdin's password refused", func(d *drillRig) { d.o.Harbor.PasswordStdin = true },
			"wrong\n", `refused user "admin" with the password from --harbor-password-stdin (401): check the password and --harbor-user`},
		{"no such project", func(d *drillRig) { d.o.Harbor.Project = "nope" },
			"", `Harbor at {url}: reading project "nope": GET /api/v2.0/projects/nope: HTTP 404 404 page not found: no project "nope" that user "admin" can see: pass an existing one with --harbor-project`},
		{"no Secret", func(d *drillRig) { d.r.harbor.secrets = nil },
			"", "no admin password: release myharbor's core reads HARBOR_ADMIN_PASSWORD from no Secret that has it: pass the password with --harbor-password-stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDrill(t, nil)
			d.o.Drill = "pod,database"
			d.serve(&opsRequests10)
			tt.edit(d)
			err := d.runErr(t, tt.stdin)
			want := strings.ReplaceAll(tt.err, "{url}", d.harbor.URL)
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, want)
			}
			if strings.Contains(err.Error(), adminPassword) || strings.Contains(err.Error(), "changed-since") {
				t.Errorf("the error shows a password: %v", err)
			}
			if len(d.r.Drill) != 0 || deleted(d) {
				t.Errorf("something was drilled: %+v", d.r.Drill)
			}
		})
	}
}

// deleted reports whether a pod was deleted or an OpsRequest created.
func deleted(d *drillRig) bool {
	l, _ := d.c.Typed.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	ops, _ := d.c.Dynamic.Resource(opsRequests10).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	return len(l.Items) != len(d.w.pods("")) || len(ops.Items) > 0
}

// The password from stdin is used as given (a trailing newline dropped).
func TestDrillPasswordFromStdin(t *testing.T) {
	d := newDrill(t, nil)
	d.o.Drill, d.o.Harbor.PasswordStdin = drillRedis, true
	d.serve(&opsRequests10)
	k := pgOperator(d)
	k.from, k.to, k.service = "myredis-redis-0", "myredis-redis-1", "myredis-redis-redis"
	k.run(t, opsRequests10)
	if err := d.runErr(t, adminPassword+"\n"); err != nil {
		t.Fatal(err)
	}
	if len(d.r.Drill) != 1 || d.r.Drill[0].Status == Unchecked {
		t.Fatalf("%+v", d.r.Drill)
	}
}

// A user who may push but not write through the API (below maintainer)
// leaves each fault unchecked, saying so, before anything is broken:
// every API write of the fault would fail and tell nothing.
func TestDrillUserMayNotWrite(t *testing.T) {
	d := newDrill(t, nil)
	d.o.Drill = drillDatabase
	d.serve(&opsRequests10)
	d.harbor.RefusingDescriptions.Store(true)
	if err := d.runErr(t, ""); err != nil {
		t.Fatal(err)
	}
	want := `the probe's first API write to Harbor (its repository's description) failed before the fault: PUT /api/v2.0/projects/library/repositories/harborha-probe: HTTP 403`
	if len(d.r.Drill) != 1 || d.r.Drill[0].Status != Unchecked || !containsAll(d.r.Drill[0].Message, []string{want, `user "admin" may not update repositories in project library; drill as a maintainer of it or an admin (--harbor-user)`}) {
		t.Fatalf("%+v", d.r.Drill)
	}
	if deleted(d) {
		t.Error("something was broken")
	}
}

// Each fault's probe deletes its repository once the fault is judged; a
// refused delete is said in the fault's message, which keeps its status.
func TestDrillCleansUp(t *testing.T) {
	for _, refused := range []bool{false, true} {
		d := newDrill(t, nil)
		d.o.Drill = drillDatabase
		d.serve(&opsRequests10)
		k := pgOperator(d)
		k.run(t, opsRequests10)
		d.harbor.RefusingDeletes.Store(refused)
		if err := d.runErr(t, ""); err != nil {
			t.Fatal(err)
		}
		res := d.r.Drill[0]
		left := "the probe's images are left in repository library/harborha-probe: DELETE /api/v2.0/projects/library/repositories/harborha-probe: HTTP 412"
		if res.Status == Unchecked || strings.Contains(res.Message, left) != refused || strings.Contains(res.Message, "\n") {
			t.Errorf("refused %v: %s %s", refused, res.Status, res.Message)
		}
		if n := d.harbor.Deleted.Load(); n != map[bool]int64{false: 1, true: 0}[refused] {
			t.Errorf("refused %v: %d repositories deleted", refused, n)
		}
	}
}

// A watch the server refuses leaves the fault unchecked, saying which
// RBAC it needs, and nothing is broken: the watches start before the
// fault.
func TestClusterDrillWatchForbidden(t *testing.T) {
	d := newDrill(t, nil)
	d.o.Drill, d.o.baseline = drillDatabase, 500*time.Millisecond // time for the refused watch to end
	d.serve(&opsRequests10)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "", errors.New(`User "drill" cannot watch resource "endpointslices"`))
	d.c.Typed.(*fake.Clientset).PrependWatchReactor("endpointslices", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, forbidden
	})
	k := pgOperator(d)
	k.run(t, opsRequests10)
	res := d.run(t)[0]
	if res.Status != Unchecked || !strings.Contains(res.Message, `RBAC must allow verb "watch" on resource "endpointslices" (API group "discovery.k8s.io")`) {
		t.Errorf("%s: %s", res.Status, res.Message)
	}
	if k.opsRequest() != nil || res.OpsRequest != "" {
		t.Errorf("the switchover was asked for although the drill could not follow it")
	}
}
