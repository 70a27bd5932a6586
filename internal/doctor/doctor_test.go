package doctor

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktypes "k8s.io/apimachinery/pkg/types"
)

// want is one check a case expects, besides which every check is ok.
type want struct {
	subject, check string
	status         Status
	says           []string // substrings of the message
}

func pg() string    { return "PostgreSQL harbor/mypg" }
func redis() string { return "Redis harbor/myredis" }

func TestDiagnose(t *testing.T) {
	forbidden := func(resource string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", fmt.Errorf("User \"dev\" cannot list resource %q", resource))
	}
	tests := []struct {
		name string
		edit func(w *world)
		want []want
		code int
	}{
		{name: "healthy", edit: func(*world) {}, code: ExitHealthy},
		{
			name: "a pod not Ready",
			edit: func(w *world) { w.pods("myharbor-core-")[1].Status.Conditions[1].Status = corev1.ConditionFalse },
			want: []want{{"core", "replicas", Finding, []string{"1 of 2 replicas Ready", "not Ready: myharbor-core-7d9f8c6b5-1"}}},
			code: ExitFindings,
		},
		{
			name: "every pod on one node",
			edit: func(w *world) {
				for _, p := range w.pods("myharbor-portal-") {
					p.Spec.NodeName = "node-2"
				}
			},
			want: []want{{"portal", "nodes", Finding, []string{"every running pod of portal is on node node-2", "losing that node stops portal"}}},
			code: ExitFindings,
		},
		{
			name: "two nodes in one zone while the nodes span three",
			edit: func(w *world) {
				find[*corev1.Node](w, "node-2").Labels[corev1.LabelTopologyZone] = "zone-a"
				find[*corev1.Node](w, "node-3").Labels[corev1.LabelTopologyZone] = "zone-c"
			},
			// Every component has its two pods on node-1 and node-2, now both zone-a.
			want: everyComponent("nodes", Finding, "but all in zone zone-a, while the schedulable nodes span 2 zones"),
			code: ExitFindings,
		},
		{
			name: "no zone labels: two nodes are enough",
			edit: func(w *world) {
				for _, n := range nodeNames {
					delete(find[*corev1.Node](w, n).Labels, corev1.LabelTopologyZone)
				}
			},
			want: everyComponent("nodes", OK, "pods on 2 nodes (the schedulable nodes span fewer than 2 zones)"),
			code: ExitHealthy,
		},
		{
			name: "a budget at 0: the next drain blocks",
			edit: func(w *world) {
				b := find[*policyv1.PodDisruptionBudget](w, "myharbor-registry")
				b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, intOrString(2)
				b.Status.DesiredHealthy, b.Status.DisruptionsAllowed = 2, 0
			},
			want: []want{{"registry", "budget", Finding, []string{"PodDisruptionBudget myharbor-registry allows 0 disruptions", "minAvailable 2; 2 of 2 pods healthy, 2 needed", "the next drain of a node with a registry pod blocks"}}},
			code: ExitFindings,
		},
		{
			name: "a budget at 0 because a pod is not healthy",
			edit: func(w *world) {
				b := find[*policyv1.PodDisruptionBudget](w, "myharbor-nginx")
				b.Status.CurrentHealthy, b.Status.DisruptionsAllowed = 1, 0
				w.pods("myharbor-nginx-")[0].Status.Conditions[1].Status = corev1.ConditionFalse
			},
			want: []want{
				{"nginx", "budget", Finding, []string{"allows 0 disruptions", "1 of 2 pods healthy, 1 needed"}},
				{"nginx", "replicas", Finding, []string{"1 of 2 replicas Ready"}},
			},
			code: ExitFindings,
		},
		{
			name: "no budget",
			edit: func(w *world) { remove[*policyv1.PodDisruptionBudget](w, "myharbor-jobservice") },
			want: []want{{"jobservice", "budget", Finding, []string{"no PodDisruptionBudget selects the pods of jobservice"}}},
			code: ExitFindings,
		},
		{
			name: "two budgets",
			edit: func(w *world) {
				b := find[*policyv1.PodDisruptionBudget](w, "myharbor-core").DeepCopy()
				b.Name = "core-extra"
				w.objs = append(w.objs, b)
			},
			want: []want{{"core", "budget", Finding, []string{"2 PodDisruptionBudgets select the pods of core (core-extra, myharbor-core)", "every drain of their nodes blocks"}}},
			code: ExitFindings,
		},
		{
			name: "a budget not computed yet",
			edit: func(w *world) { find[*policyv1.PodDisruptionBudget](w, "myharbor-trivy").Generation = 2 },
			want: []want{{"trivy", "budget", Unchecked, []string{"has not computed its status yet"}}},
			code: ExitUnverified,
		},
		{
			name: "a pod Pending long, with the scheduler's reason",
			edit: func(w *world) {
				w.pendingPod("myharbor-core-7d9f8c6b5-2", 10*time.Minute)
				w.objs = append(w.objs, failedScheduling("myharbor-core-7d9f8c6b5-2", "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod anti-affinity rules."))
			},
			want: []want{{"core", "pending", Finding, []string{"pod myharbor-core-7d9f8c6b5-2 Pending for 10m0s", "not scheduled: 0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod anti-affinity rules."}}},
			code: ExitFindings,
		},
		{
			name: "a pod Pending long, the reason from its condition",
			edit: func(w *world) {
				p := w.pendingPod("myharbor-core-7d9f8c6b5-2", 10*time.Minute)
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}
			},
			want: []want{{"core", "pending", Finding, []string{"not scheduled: 0/3 nodes are available: 3 Insufficient cpu."}}},
			code: ExitFindings,
		},
		{
			name: "a pod Pending for less than --pending-after",
			edit: func(w *world) { w.pendingPod("myharbor-core-7d9f8c6b5-2", 30*time.Second) },
			code: ExitHealthy,
		},
		{
			name: "a bound pod waiting for its image",
			edit: func(w *world) {
				p := w.pendingPod("myharbor-portal-7d9f8c6b5-2", 5*time.Minute)
				p.Spec.NodeName = "node-3"
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "portal", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}
			},
			want: []want{{"portal", "pending", Finding, []string{"on node node-3, container portal waiting: ImagePullBackOff Back-off pulling image"}}},
			code: ExitFindings,
		},
		{
			name: "the shared claim Pending",
			edit: func(w *world) {
				find[*corev1.PersistentVolumeClaim](w, "harbor-shared").Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			},
			want: []want{
				{"registry", "claim", Finding, []string{"claim harbor-shared (volume registry-data) is Pending, not Bound"}},
				{"jobservice", "claim", Finding, []string{"claim harbor-shared (volume job-logs) is Pending, not Bound"}},
			},
			code: ExitFindings,
		},
		{
			name: "the shared claim ReadWriteOnce",
			edit: func(w *world) {
				find[*corev1.PersistentVolumeClaim](w, "harbor-shared").Status.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
			},
			want: []want{
				{"registry", "claim", Finding, []string{"is ReadWriteOnce, not ReadWriteMany", "Multi-Attach"}},
				{"jobservice", "claim", Finding, []string{"is ReadWriteOnce, not ReadWriteMany"}},
			},
			code: ExitFindings,
		},
		{
			name: "the shared claim missing",
			edit: func(w *world) { remove[*corev1.PersistentVolumeClaim](w, "harbor-shared") },
			want: []want{
				{"registry", "claim", Finding, []string{"claim harbor-shared (volume registry-data) does not exist"}},
				{"jobservice", "claim", Finding, []string{"does not exist"}},
			},
			code: ExitFindings,
		},
		{
			name: "one trivy pod is a warning",
			edit: func(w *world) { w.scale("myharbor-trivy", 1) },
			want: []want{{"trivy", "replicas", Warning, []string{"1 of 1 replica Ready: one pod"}}},
			code: ExitHealthy,
		},
		{
			name: "one core pod is a finding",
			edit: func(w *world) { w.scale("myharbor-core", 1) },
			want: []want{{"core", "replicas", Finding, []string{"1 of 1 replica Ready: one pod, so a node drain, an eviction or a crash takes core offline"}}},
			code: ExitFindings,
		},
		{
			name: "the database cluster not Running",
			edit: func(w *world) { w.cluster("mypg").Object["status"].(map[string]any)["phase"] = "Updating" },
			want: []want{{pg(), "cluster", Finding, []string{"cluster harbor/mypg: phase is Updating, not Running"}}},
			code: ExitFindings,
		},
		{
			name: "database pods on one node",
			edit: func(w *world) { find[*corev1.Pod](w, "mypg-postgresql-1").Spec.NodeName = "node-1" },
			want: []want{{pg(), "placement", Finding, []string{"pods mypg-postgresql-0, mypg-postgresql-1 of component postgresql share node node-1", "is not highly available"}}},
			code: ExitFindings,
		},
		{
			name: "Redis Sentinel pods on one node",
			edit: func(w *world) {
				s := find[*corev1.Pod](w, "myredis-redis-sentinel-0").DeepCopy()
				s.Name = "myredis-redis-sentinel-1"
				w.objs = append(w.objs, s)
			},
			want: []want{{redis(), "placement", Finding, []string{"pods myredis-redis-sentinel-0, myredis-redis-sentinel-1 of component redis-sentinel share node node-1"}}},
			code: ExitFindings,
		},
		{
			name: "no endpoint behind the primary Service",
			edit: func(w *world) { remove[*discoveryv1.EndpointSlice](w, "mypg-postgresql-postgresql-x1") },
			want: []want{{pg(), "primary", Finding, []string{"Service mypg-postgresql-postgresql has no ready endpoint: Harbor cannot reach the PostgreSQL primary"}}},
			code: ExitFindings,
		},
		{
			name: "two endpoints behind the primary Service",
			edit: func(w *world) {
				remove[*discoveryv1.EndpointSlice](w, "myredis-redis-redis-x1")
				w.objs = append(w.objs, endpointSlice("myredis-redis-redis", "myredis-redis-0", "myredis-redis-1"))
			},
			want: []want{{redis(), "primary", Finding, []string{"has 2 ready endpoints (myredis-redis-0, myredis-redis-1)"}}},
			code: ExitFindings,
		},
		{
			name: "the endpoint is not the pod labelled primary",
			edit: func(w *world) { w.moveRole("mypg-postgresql-0", "mypg-postgresql-1") },
			want: []want{{pg(), "primary", Finding, []string{"the endpoint of Service mypg-postgresql-postgresql is mypg-postgresql-0, but the pod labelled primary is mypg-postgresql-1"}}},
			code: ExitFindings,
		},
		{
			name: "a switchover: role and endpoint moved together",
			edit: func(w *world) {
				w.moveRole("mypg-postgresql-0", "mypg-postgresql-1")
				remove[*discoveryv1.EndpointSlice](w, "mypg-postgresql-postgresql-x1")
				w.objs = append(w.objs, endpointSlice("mypg-postgresql-postgresql", "mypg-postgresql-1"))
			},
			code: ExitHealthy,
		},
		{
			name: "a stale ClusterIP: the Service was recreated",
			edit: func(w *world) {
				svc := find[*corev1.Service](w, "mypg-postgresql-postgresql")
				svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.44.4", []string{"10.96.44.4"}
			},
			want: []want{{pg(), "address", Finding, []string{
				"database address 10.96.0.10:5432 (ConfigMap myharbor-core key POSTGRESQL_HOST) is the address of no Service in namespace harbor",
				"discovery chooses Service mypg-postgresql-postgresql at 10.96.44.4:5432"}}},
			code: ExitFindings,
		},
		{
			name: "Harbor on the headless Service's name",
			edit: func(w *world) {
				find[*corev1.ConfigMap](w, "myharbor-core").Data["POSTGRESQL_HOST"] = "mypg-postgresql-headless.harbor.svc"
			},
			want: []want{{pg(), "address", Finding, []string{"database address mypg-postgresql-headless.harbor.svc:5432", "is Service mypg-postgresql-headless, but discovery chooses Service mypg-postgresql-postgresql port 5432"}}},
			code: ExitFindings,
		},
		{
			name: "Harbor on the primary Service's DNS name",
			edit: func(w *world) {
				find[*corev1.ConfigMap](w, "myharbor-core").Data["POSTGRESQL_HOST"] = "mypg-postgresql-postgresql.harbor.svc.cluster.local"
			},
			code: ExitHealthy,
		},
		{
			// The post-renderer (issue 11) writes each Redis URL twice: in
			// the chart's ConfigMaps without the password, and in the
			// containers' env with $(HARBORHA_REDIS_PASSWORD). Each place
			// alone is enough to find the address.
			name: "Redis URLs only in container env, with $(VAR) credentials",
			edit: func(w *world) { w.dropRedisFromConfigMaps() },
			want: []want{{redis(), "address", OK, []string{"Redis address 10.96.0.11:6379 (Deployment myharbor-core container core env _REDIS_URL_CORE and 5 more)"}}},
			code: ExitHealthy,
		},
		{
			name: "Redis URLs only in the ConfigMaps, without a password",
			edit: func(w *world) { w.dropRedisFromEnv() },
			want: []want{{redis(), "address", OK, []string{"Redis address 10.96.0.11:6379 (ConfigMap myharbor-core key _REDIS_URL_CORE and 3 more)"}}},
			code: ExitHealthy,
		},
		{
			name: "no Redis address at all",
			edit: func(w *world) {
				w.dropRedisFromConfigMaps()
				w.dropRedisFromEnv()
			},
			want: []want{{"Redis", "address", Unchecked, []string{"no Redis address in the configuration of release myharbor"}}},
			code: ExitUnverified,
		},
		{
			name: "a database that is not a KubeBlocks cluster",
			edit: func(w *world) {
				find[*corev1.ConfigMap](w, "myharbor-core").Data["POSTGRESQL_HOST"] = "10.20.30.40"
				w.clusters = w.clusters[1:] // no PostgreSQL cluster to compare with
			},
			want: []want{{"PostgreSQL", "address", Unchecked, []string{"database address 10.20.30.40:5432", "is no KubeBlocks Service in namespace harbor", "no KubeBlocks PostgreSQL cluster"}}},
			code: ExitUnverified,
		},
		{
			name: "nodes not listable",
			edit: func(w *world) { w.fail["list nodes"] = forbidden("nodes") },
			want: append(everyComponent("nodes", OK, "zones not checked"),
				want{"nodes", "zones", Unchecked, []string{`forbidden: user "dev" may not list nodes cluster-wide`, `RBAC must allow verb "list" on resource "nodes"`}}),
			code: ExitUnverified,
		},
		{
			name: "the registry refused by Redis, as its log says",
			edit: func(w *world) {
				w.registryLog = "time=\"2026-12-06T11:48:08Z\" level=info msg=\"response completed\"\n" +
					"time=\"2026-12-06T11:48:08Z\" level=error msg=\"redis: error connecting: WRONGPASS invalid username-password pair or user is disabled.\" go.version=go1.26.8 service=registry\n"
			},
			want: []want{{"registry", "redis", Finding, []string{`pod myharbor-registry-7d9f8c6b5-0 logs "redis: error connecting: WRONGPASS invalid username-password pair or user is disabled."`, "Redis refuses the registry's login, so it serves without its cache"}}},
			code: ExitFindings,
		},
		{
			name: "an ACL user the registry cannot log in as (a chart before 1.19)",
			edit: func(w *world) {
				cm := find[*corev1.ConfigMap](w, "myharbor-registry")
				cm.Data["config.yml"] = regexp.MustCompile(`(?m)^\s*username: ""\n`).ReplaceAllString(cm.Data["config.yml"], "")
				find[*corev1.ConfigMap](w, "myharbor-core").Data["_REDIS_URL_CORE"] = "redis://harbor@10.96.0.11:6379/0"
			},
			want: []want{
				{"registry", "redis", Finding, []string{"the registry will be refused by Redis (WRONGPASS) and serve without its cache",
					`its config (ConfigMap myharbor-registry key config.yml) has no redis.username while the other components log in as user "harbor"`}},
				// The world has no bootstrap record of the user's pods (acl.go).
				{redis(), "acl", Unchecked, []string{`Harbor logs in to Redis as user "harbor", but there is no record`}},
			},
			code: ExitFindings,
		},
		{
			name: "registry logs not readable",
			edit: func(w *world) { w.fail["get pods"] = forbidden("pods") },
			want: []want{{"registry", "redis", Unchecked, []string{`may not get pods/log in namespace "harbor"`}}},
			code: ExitUnverified,
		},
		{
			name: "budgets not listable",
			edit: func(w *world) { w.fail["list poddisruptionbudgets"] = forbidden("poddisruptionbudgets") },
			want: everyComponent("budget", Unchecked, `may not list poddisruptionbudgets.policy in namespace "harbor"`),
			code: ExitUnverified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { diagnoseCase(t, tt.edit, tt.want, tt.code) })
	}
}

// diagnoseCase diagnoses the world after edit, and checks the report
// (checkReport) and its exit status.
func diagnoseCase(t *testing.T, edit func(w *world), wants []want, code int) *Report {
	t.Helper()
	w := newWorld(t)
	edit(w)
	r, _, err := w.diagnose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r, wants)
	if got := r.Code(); got != code {
		t.Errorf("exit status %d, want %d", got, code)
	}
	return r
}

// checkReport: every wanted check is there with its status and words, and
// every other check is ok.
func checkReport(t *testing.T, r *Report, wants []want) {
	t.Helper()
	matched := map[int]bool{}
	for _, w := range wants {
		found := false
		for i, c := range r.Checks {
			if c.Subject != w.subject || c.Check != w.check || c.Status != w.status || matched[i] || !containsAll(c.Message, w.says) {
				continue
			}
			matched[i], found = true, true
			if c.Status == Finding && c.Fix == "" {
				t.Errorf("%s %s: a finding without a fix", c.Subject, c.Check)
			}
			break
		}
		if !found {
			t.Errorf("no %s check %q of %s saying %q", w.status, w.check, w.subject, w.says)
		}
	}
	for i, c := range r.Checks {
		if !matched[i] && c.Status != OK {
			t.Errorf("unexpected %s: %s %s: %s", c.Status, c.Subject, c.Check, c.Message)
		}
	}
	if t.Failed() {
		var b bytes.Buffer
		r.WriteText(&b)
		t.Log(b.String())
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// everyComponent expects the same check of each component of the golden.
func everyComponent(check string, st Status, says string) []want {
	var out []want
	for _, c := range []string{"core", "portal", "registry", "jobservice", "nginx", "trivy"} {
		out = append(out, want{c, check, st, []string{says}})
	}
	return out
}

// pendingPod turns a pod Pending, unscheduled, created age ago.
func (w *world) pendingPod(name string, age time.Duration) *corev1.Pod {
	prefix := name[:strings.LastIndex(name, "-")+1]
	p := w.pods(prefix)[0].DeepCopy()
	p.Name, p.UID = name, ktypes.UID("uid-"+name)
	p.Spec.NodeName = ""
	p.CreationTimestamp = metav1.NewTime(w.now.Add(-age))
	p.Status = corev1.PodStatus{Phase: corev1.PodPending}
	w.objs = append(w.objs, p)
	return p
}

func failedScheduling(pod, msg string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod + ".1", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: ns},
		Reason:         "FailedScheduling", Message: msg, Type: corev1.EventTypeWarning,
		LastTimestamp: metav1.Now(),
	}
}
