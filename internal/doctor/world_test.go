package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// A world is a live Harbor release on client-go's fakes, as the
// controllers would leave it: the post-render golden of chart 1.19.1
// (testdata/shared-pvc-create: 2 replicas of each component, soft
// anti-affinity, budgets, the shared claim) with every workload's pods
// Ready on three nodes in three zones, budgets that allow one disruption,
// the shared claim Bound; and the KubeBlocks 1.0 fixture clusters from
// ../shared, their primary Services at the addresses the golden's values
// give Harbor (10.96.0.10, 10.96.0.11), their pods on distinct nodes and
// EndpointSlices pointing at the primaries. Tests break one thing each.
type world struct {
	t        testing.TB
	objs     []runtime.Object
	clusters []*unstructured.Unstructured
	fail     map[string]error // "verb resource" -> error
	now      time.Time
	// registryLog is every registry pod's log ("" : a healthy one's).
	registryLog string
}

const (
	ns      = "harbor"
	release = "myharbor"
	pgIP    = "10.96.0.10"
	redisIP = "10.96.0.11"
)

var nodeNames = []string{"node-1", "node-2", "node-3"}

func newWorld(t testing.TB) *world { return newWorldFrom(t, "shared-pvc-create") }

// newWorldFrom builds the world from another post-render golden case.
func newWorldFrom(t testing.TB, golden string) *world {
	t.Helper()
	w := &world{t: t, fail: map[string]error{}, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	for i, n := range nodeNames {
		w.objs = append(w.objs, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelHostname: n, corev1.LabelTopologyZone: fmt.Sprintf("zone-%c", 'a'+i)}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		})
	}
	w.addRelease(filepath.Join(testutil.RepoRoot(), "testdata", golden, "expected.yaml"))
	w.addKubeBlocks()
	return w
}

// addRelease adds the golden's objects, with the status and pods the
// controllers would give them.
func (w *world) addRelease(golden string) {
	data, err := os.ReadFile(golden)
	if err != nil {
		w.t.Fatal(err)
	}
	docs, err := manifest.Parse(data)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, d := range docs {
		if d.Hook {
			continue
		}
		if d.Obj.GetNamespace() == "" {
			d.Obj.SetNamespace(ns) // Helm installs them in the release's namespace
		}
		switch d.Obj.GetKind() {
		case "Deployment":
			dep := convert(w.t, d.Obj, &appsv1.Deployment{})
			dep.Status.Replicas, dep.Status.ReadyReplicas = *dep.Spec.Replicas, *dep.Spec.Replicas
			w.objs = append(w.objs, dep)
			w.addPods(dep.Name+"-7d9f8c6b5", dep.Spec.Template, int(*dep.Spec.Replicas))
		case "StatefulSet":
			sts := convert(w.t, d.Obj, &appsv1.StatefulSet{})
			sts.Status.Replicas, sts.Status.ReadyReplicas = *sts.Spec.Replicas, *sts.Spec.Replicas
			w.objs = append(w.objs, sts)
			w.addPods(sts.Name, sts.Spec.Template, int(*sts.Spec.Replicas))
			for _, p := range w.pods(sts.Name + "-") { // the StatefulSet controller adds a claim per template
				for _, vct := range sts.Spec.VolumeClaimTemplates {
					p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: vct.Name, VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vct.Name + "-" + p.Name}}})
				}
			}
		case "PodDisruptionBudget":
			w.objs = append(w.objs, healthyBudget(convert(w.t, d.Obj, &policyv1.PodDisruptionBudget{})))
		case "PersistentVolumeClaim":
			pvc := convert(w.t, d.Obj, &corev1.PersistentVolumeClaim{})
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pvc.Spec.AccessModes}
			w.objs = append(w.objs, pvc)
		case "ConfigMap":
			w.objs = append(w.objs, convert(w.t, d.Obj, &corev1.ConfigMap{}))
		case "Secret":
			w.objs = append(w.objs, convert(w.t, d.Obj, &corev1.Secret{}))
		}
	}
}

// addPods adds n Ready pods of a template, pod i on node i mod 3, created
// an hour ago.
func (w *world) addPods(prefix string, tmpl corev1.PodTemplateSpec, n int) {
	for i := range n {
		p := &corev1.Pod{
			ObjectMeta: *tmpl.ObjectMeta.DeepCopy(),
			Spec:       *tmpl.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
		p.Name, p.Namespace, p.UID = fmt.Sprintf("%s-%d", prefix, i), ns, ktypes.UID(fmt.Sprintf("uid-%s-%d", prefix, i))
		p.CreationTimestamp = metav1.NewTime(w.now.Add(-time.Hour))
		p.Spec.NodeName = nodeNames[i%len(nodeNames)]
		w.objs = append(w.objs, p)
	}
}

// healthyBudget gives a budget the status the disruption controller
// computes for 2 healthy pods and maxUnavailable 1.
func healthyBudget(b *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
	b.Generation = 1
	b.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: 2, CurrentHealthy: 2, DesiredHealthy: 1, DisruptionsAllowed: 1}
	return b
}

// addKubeBlocks adds the 1.0 fixture clusters: Services at the golden's
// addresses, pods Ready on distinct nodes, primary EndpointSlices.
func (w *world) addKubeBlocks() {
	w.addClusters(kubetest.Fixture(w.t, "kb-1.0-pg-redis.yaml"), map[string]string{"mypg-postgresql-postgresql": pgIP, "myredis-redis-redis": redisIP})
	w.objs = append(w.objs, endpointSlice("mypg-postgresql-postgresql", "mypg-postgresql-0"), endpointSlice("myredis-redis-redis", "myredis-redis-0"))
}

// addClusters adds fixture Clusters, Services (those of ips at their
// address) and pods (Ready, a component's pods on distinct nodes).
func (w *world) addClusters(objs []*unstructured.Unstructured, ips map[string]string) {
	node := map[string]int{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Cluster":
			w.clusters = append(w.clusters, o)
		case "Service":
			svc := convert(w.t, o, &corev1.Service{})
			if ip := ips[svc.Name]; ip != "" {
				svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
			}
			w.objs = append(w.objs, svc)
		case "Pod":
			p := convert(w.t, o, &corev1.Pod{})
			comp := p.Labels[discover.LabelComponent]
			p.Spec.NodeName = nodeNames[node[comp]%len(nodeNames)]
			node[comp]++
			p.UID = ktypes.UID("uid-" + p.Name)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			w.objs = append(w.objs, p)
		}
	}
}

// endpointSlice is the slice of a Service with one ready endpoint, a pod.
func endpointSlice(service string, pods ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-x1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	ready := true
	for i, p := range pods {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.9.%d", i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p, Namespace: ns}})
	}
	return s
}

func convert[T any](t testing.TB, u *unstructured.Unstructured, into *T) *T {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatal(err)
	}
	return into
}

// find returns the world's object of that type and name, or fails.
func find[T runtime.Object](w *world, name string) T {
	w.t.Helper()
	for _, o := range w.objs {
		if x, ok := o.(T); ok && o.(metav1.Object).GetName() == name {
			return x
		}
	}
	var zero T
	w.t.Fatalf("no %T %s in the world", zero, name)
	return zero
}

// podsOf are the world's pods whose name starts with prefix.
func (w *world) pods(prefix string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range w.objs {
		if p, ok := o.(*corev1.Pod); ok && strings.HasPrefix(p.Name, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// remove drops the world's object of that type and name.
func remove[T runtime.Object](w *world, name string) {
	w.t.Helper()
	find[T](w, name)
	w.objs = slices.DeleteFunc(w.objs, func(o runtime.Object) bool {
		_, ok := o.(T)
		return ok && o.(metav1.Object).GetName() == name
	})
}

// client builds the fakes; actions returns every request made.
func (w *world) client() (*kube.Client, func() []k8stesting.Action) {
	cs := fake.NewClientset(w.objs...)
	var clusters []runtime.Object
	for _, c := range w.clusters {
		clusters = append(clusters, c.DeepCopy())
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		discover.ClusterResource("v1"): "ClusterList", discover.ClusterResource("v1alpha1"): "ClusterList",
		opsRequests10: "OpsRequestList", opsRequests09: "OpsRequestList",
	}, clusters...)
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte(w.registryLog)}, nil
	})
	for key, err := range w.fail {
		verb, res, _ := strings.Cut(key, " ")
		cs.PrependReactor(verb, res, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	}
	c := &kube.Client{Typed: cs, Dynamic: dyn, Namespace: ns, Context: "fake", Server: "https://fake:6443"}
	return c, func() []k8stesting.Action { return append(dyn.Actions(), cs.Actions()...) }
}

// diagnose runs the checks on the world.
func (w *world) diagnose(o Options) (*Report, []k8stesting.Action, error) {
	c, actions := w.client()
	if o.Release == "" {
		o.Release = release
	}
	if o.PendingAfter == 0 {
		o.PendingAfter = DefaultPendingAfter
	}
	o.now = func() time.Time { return w.now }
	r, err := Diagnose(context.Background(), c, &o)
	return r, actions(), err
}

func intOrString(v int) *intstr.IntOrString {
	x := intstr.FromInt32(int32(v))
	return &x
}

// scale sets a workload's replicas, with as many pods.
func (w *world) scale(name string, n int32) {
	w.t.Helper()
	for _, o := range w.objs {
		switch x := o.(type) {
		case *appsv1.Deployment:
			if x.Name == name {
				x.Spec.Replicas, x.Status.Replicas, x.Status.ReadyReplicas = &n, n, n
			}
		case *appsv1.StatefulSet:
			if x.Name == name {
				x.Spec.Replicas, x.Status.Replicas, x.Status.ReadyReplicas = &n, n, n
			}
		}
	}
	pods := w.pods(name + "-")
	for _, p := range pods[n:] {
		remove[*corev1.Pod](w, p.Name)
	}
}

// cluster returns a fixture Cluster.
func (w *world) cluster(name string) *unstructured.Unstructured {
	w.t.Helper()
	for _, c := range w.clusters {
		if c.GetName() == name {
			return c
		}
	}
	w.t.Fatalf("no Cluster %s", name)
	return nil
}

// moveRole moves kubeblocks.io/role=primary from one pod to another, as
// KubeBlocks does on a switchover.
func (w *world) moveRole(from, to string) {
	find[*corev1.Pod](w, from).Labels[discover.LabelRole] = "secondary"
	find[*corev1.Pod](w, to).Labels[discover.LabelRole] = "primary"
}

// addClaim adds a Bound claim with the given access mode (one the golden
// names but does not render: --shared-pvc without --create-shared-pvc).
func (w *world) addClaim(name string, mode corev1.PersistentVolumeAccessMode) {
	w.objs = append(w.objs, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{mode}},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{mode}},
	})
}

// dropRedisFromConfigMaps removes every ConfigMap key that mentions Redis
// (its URLs, the registry's config.yml with redis.addr).
func (w *world) dropRedisFromConfigMaps() {
	for _, o := range w.objs {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			for k, v := range cm.Data {
				if strings.Contains(v, "redis") {
					delete(cm.Data, k)
				}
			}
		}
	}
}

// dropRedisFromEnv removes every container env entry holding a Redis URL
// from the workloads' templates, where doctor reads them.
func (w *world) dropRedisFromEnv() {
	drop := func(spec *corev1.PodSpec) {
		for i := range spec.Containers {
			spec.Containers[i].Env = slices.DeleteFunc(spec.Containers[i].Env, func(e corev1.EnvVar) bool {
				return strings.Contains(e.Value, "redis://")
			})
		}
	}
	w.editPodSpecs(drop)
}

// editPodSpecs applies edit to the pod template of every workload.
func (w *world) editPodSpecs(edit func(spec *corev1.PodSpec)) {
	for _, o := range w.objs {
		switch x := o.(type) {
		case *appsv1.Deployment:
			edit(&x.Spec.Template.Spec)
		case *appsv1.StatefulSet:
			edit(&x.Spec.Template.Spec)
		}
	}
}
