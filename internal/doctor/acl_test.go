package doctor

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kubetest"
)

// The acl check compares the Redis cluster's data pods with the pods
// bootstrap gave Harbor's user (its record); Sentinel's pods are no data
// pods. Without a user in Harbor's configuration and without a record,
// Harbor uses the cluster's own account and there is no check.
func TestACLCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(w *world)
		want []want
		code int
	}{
		{
			name: "every data pod has the user",
			edit: func(w *world) { w.redisUser("harbor"); w.bootstrapped("harbor", "myredis-redis-0", "myredis-redis-1") },
			want: []want{{redis(), "acl", OK, []string{`user "harbor": bootstrap gave it to every data pod (myredis-redis-0, myredis-redis-1)`}}},
			code: ExitHealthy,
		},
		{
			name: "a replica added after bootstrap",
			edit: func(w *world) {
				w.redisUser("harbor")
				w.bootstrapped("harbor", "myredis-redis-0", "myredis-redis-1")
				w.addRedisReplica("myredis-redis-2")
			},
			want: []want{{redis(), "acl", Finding, []string{`pod myredis-redis-2 (secondary) joined after bootstrap gave user "harbor" to myredis-redis-0, myredis-redis-1`,
				"ACL users are per node and not replicated, so Harbor cannot log in after a failover to it"}}},
			code: ExitFindings,
		},
		{
			name: "the user in Harbor's configuration, no record",
			edit: func(w *world) { w.redisUser("harbor") },
			want: []want{{redis(), "acl", Unchecked, []string{`Harbor logs in to Redis as user "harbor", but there is no record`, "helm harborha bootstrap myharbor --redis-user harbor"}}},
			code: ExitUnverified,
		},
		{
			name: "a record of another user",
			edit: func(w *world) {
				w.redisUser("registry")
				w.bootstrapped("harbor", "myredis-redis-0", "myredis-redis-1")
			},
			want: []want{{redis(), "acl", Unchecked, []string{`Harbor logs in to Redis as user "registry", but bootstrap recorded the pods of user "harbor"`}}},
			code: ExitUnverified,
		},
		{
			name: "a record of another cluster's Service",
			edit: func(w *world) {
				w.bootstrapped("harbor", "myredis-redis-0", "myredis-redis-1")
				w.configMap(bootstrap.RedisNodesName(release)).Data["service"] = "oldredis-redis-redis"
			},
			want: []want{{redis(), "acl", Finding, []string{`bootstrap gave user "harbor" to the pods of Service harbor/oldredis-redis-redis, but Harbor uses cluster harbor/myredis (Service myredis-redis-redis)`}}},
			code: ExitFindings,
		},
		{
			name: "no user, no record: the cluster's own account, nothing to check",
			edit: func(w *world) { w.redisUser("default") },
			code: ExitHealthy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := diagnoseCase(t, tt.edit, tt.want, tt.code)
			if len(tt.want) == 0 && slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Check == "acl" }) {
				t.Errorf("an acl check without a user or a record: %+v", r.Checks)
			}
		})
	}
}

// Valkey is Harbor's Redis to doctor too: the address leads to the Valkey
// cluster, whose primary, placement and ACL record are checked the same
// way (KubeBlocks 1.2 fixture).
func TestDiagnoseValkey(t *testing.T) {
	w := newWorld(t)
	w.useValkey()
	w.redisUser("harbor")
	w.bootstrapped("harbor", "myvalkey-valkey-0", "myvalkey-valkey-1")
	r, _, err := w.diagnose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	valkey := "Redis harbor/myvalkey"
	checkReport(t, r, nil)
	for _, c := range []string{"address", "cluster", "primary", "placement", "acl"} {
		if !slices.ContainsFunc(r.Checks, func(x Check) bool { return x.Subject == valkey && x.Check == c && x.Status == OK }) {
			t.Errorf("no ok %s check of %s", c, valkey)
		}
	}
	w.addRedisReplica("myvalkey-valkey-2")
	r, _, err = w.diagnose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r, []want{{valkey, "acl", Finding, []string{`pod myvalkey-valkey-2 (secondary) joined after bootstrap gave user "harbor" to myvalkey-valkey-0, myvalkey-valkey-1`}}})
}

// redisUser puts a Redis username in the URLs of Harbor's containers, as
// the post-renderer writes them for a bootstrapped user.
func (w *world) redisUser(user string) {
	set := func(spec *corev1.PodSpec) {
		for i := range spec.Containers {
			for j, e := range spec.Containers[i].Env {
				spec.Containers[i].Env[j].Value = strings.ReplaceAll(e.Value, "redis://:$(", "redis://"+user+":$(")
			}
		}
	}
	w.editPodSpecs(set)
}

// bootstrapped adds bootstrap's record of the pods it gave the user to
// (pods of one cluster component, <c>-<comp>-<n>, its Service
// <c>-<comp>-<comp>).
func (w *world) bootstrapped(user string, pods ...string) {
	base := pods[0][:strings.LastIndex(pods[0], "-")]
	comp := base[strings.Index(base, "-")+1:]
	w.objs = append(w.objs, bootstrap.RedisNodesConfigMap(ns, release, bootstrap.RedisNodes{User: user, Namespace: ns, Service: base + "-" + comp, Pods: pods}))
}

// configMap returns the world's ConfigMap of that name.
func (w *world) configMap(name string) *corev1.ConfigMap { return find[*corev1.ConfigMap](w, name) }

// addRedisReplica adds a Ready secondary data pod to the Redis (or Valkey)
// cluster, on the third node (pods 0 and 1 are on the first two), as a
// scale-out does.
func (w *world) addRedisReplica(name string) {
	prefix := name[:strings.LastIndex(name, "-")+1]
	p := w.pods(prefix)[1].DeepCopy()
	p.Name, p.UID = name, ktypes.UID("uid-"+name)
	p.Labels["apps.kubeblocks.io/pod-name"] = name
	p.Labels[discover.LabelRole] = "secondary"
	p.Spec.NodeName = nodeNames[2]
	w.objs = append(w.objs, p)
}

// useValkey replaces the Redis cluster with the KubeBlocks 1.2 Valkey
// fixture (replication with Sentinel), its primary Service at Redis's
// address.
func (w *world) useValkey() {
	w.objs = slices.DeleteFunc(w.objs, func(o runtime.Object) bool {
		m, ok := o.(interface{ GetName() string })
		return ok && strings.HasPrefix(m.GetName(), "myredis-")
	})
	w.clusters = slices.DeleteFunc(w.clusters, func(c *unstructured.Unstructured) bool { return c.GetName() == "myredis" })
	var valkey []*unstructured.Unstructured
	for _, o := range kubetest.OwnFixture(w.t, "kb-1.2-pg-valkey.yaml") {
		if strings.HasPrefix(o.GetName(), "myvalkey") {
			valkey = append(valkey, o)
		}
	}
	w.addClusters(valkey, map[string]string{"myvalkey-valkey-valkey": redisIP})
	w.objs = append(w.objs, endpointSlice("myvalkey-valkey-valkey", "myvalkey-valkey-0"))
	if n := len(w.pods("myvalkey-valkey-sentinel-")); n != 3 {
		w.t.Fatalf("the Valkey fixture has %d Sentinel pods, want 3", n)
	}
}
