package doctor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/cli"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// BenchmarkDiagnose runs the checks against the real API server (no
// controllers: the world's objects are written with their status) and
// reports the requests per run: the same 11 whatever else the namespace
// holds.
//
//	go test -run '^$' -bench Diagnose -count 5 ./internal/doctor
func BenchmarkDiagnose(b *testing.B) {
	env := kubetest.Start(b)
	env.UseKubeBlocks(b, "1.0.1")
	for _, unrelated := range []int{0, 1000} {
		b.Run(fmt.Sprintf("unrelated=%d", unrelated), func(b *testing.B) {
			ns := liveWorld(b, env, unrelated)
			var counter kubetest.RequestCounter
			s := cli.New()
			s.KubeConfig = env.Kubeconfig
			s.SetNamespace(ns)
			c, err := kube.Connect(s, kube.Options{WrapTransport: counter.Wrap, QPS: 1000, Burst: 1000})
			if err != nil {
				b.Fatal(err)
			}
			o := &Options{Release: release, PendingAfter: DefaultPendingAfter}
			var r *Report
			for b.Loop() {
				if r, err = Diagnose(context.Background(), c, o); err != nil {
					b.Fatal(err)
				}
			}
			if r.Code() != ExitHealthy {
				b.Fatalf("the live world is not healthy: %+v", r.Checks)
			}
			b.ReportMetric(float64(counter.Count())/float64(b.N), "requests/op")
		})
	}
}

// On KubeBlocks 1.2's API (apps.kubeblocks.io/v1 only, v1alpha1 gets
// 404) doctor checks the release as on 1.0, with the same 11 requests: the
// Clusters are listed once, in v1.
func TestDiagnoseOnKubeBlocks12API(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, kubetest.KubeBlocks12API)
	ns := liveWorld(t, env, 0)
	var counter kubetest.RequestCounter
	s := cli.New()
	s.KubeConfig = env.Kubeconfig
	s.SetNamespace(ns)
	c, err := kube.Connect(s, kube.Options{WrapTransport: counter.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Diagnose(context.Background(), c, &Options{Release: release, PendingAfter: DefaultPendingAfter})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r, nil)
	// 11, and the log of each of the 2 registry pods (registry.go; no
	// kubelet serves them here, which skips them).
	if n := counter.Count(); n != 13 {
		t.Errorf("%d requests, want 13", n)
	}
}

// liveWorld writes the fake world's objects to the API server in a new
// namespace, with n unrelated Pods and n ConfigMaps beside them, and
// points Harbor's configuration at the ClusterIPs the server allocated.
func liveWorld(b testing.TB, env *kubetest.Env, n int) string {
	w := newWorld(b)
	ns := env.Namespace(b, "doctor")
	for _, node := range nodeNames {
		env.EnsureNode(b, node, "192.0.2.1")
	}
	var kb, rest []*unstructured.Unstructured
	for _, o := range w.objs {
		u := toUnstructured(b, o)
		switch u.GetKind() {
		case "Node": // cluster-wide: EnsureNode
		case "Service": // first: Harbor's configuration needs their ClusterIPs
			kb = append(kb, u)
		default:
			rest = append(rest, u)
		}
	}
	env.Create(b, ns, append(kb, w.clusters...)...)
	ips := map[string]string{}
	for _, svc := range []string{"mypg-postgresql-postgresql", "myredis-redis-redis"} {
		s, err := env.Typed.CoreV1().Services(ns).Get(context.Background(), svc, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ips[svc] = s.Spec.ClusterIP
	}
	replace := strings.NewReplacer(pgIP, ips["mypg-postgresql-postgresql"], redisIP, ips["myredis-redis-redis"])
	for i, u := range rest { // ConfigMaps, and the workloads' env, where the post-renderer puts the Redis URLs
		j, err := u.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		rest[i] = &unstructured.Unstructured{}
		if err := rest[i].UnmarshalJSON([]byte(replace.Replace(string(j)))); err != nil {
			b.Fatal(err)
		}
	}
	env.Create(b, ns, rest...)
	if err := env.CreateObjects(context.Background(), ns, unrelatedObjects(b, n)...); err != nil {
		b.Fatal(err)
	}
	return ns
}

func toUnstructured(b testing.TB, o runtime.Object) *unstructured.Unstructured {
	gvks, _, err := scheme.Scheme.ObjectKinds(o)
	if err != nil {
		b.Fatal(err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		b.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvks[0])
	return u
}

// unrelatedObjects are n Pods and n ConfigMaps of another release.
func unrelatedObjects(b testing.TB, n int) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for i := range n {
		labels := map[string]string{"release": "other", "app": "harbor", "component": "core"}
		out = append(out,
			toUnstructured(b, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%04d", i), Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}),
			toUnstructured(b, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%04d", i), Labels: labels},
				Data: map[string]string{"_REDIS_URL_CORE": "redis://10.96.9.9:6379/0"}}))
	}
	return out
}
