package kubetest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/kubetest"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

var clusterV1 = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1", Resource: "clusters"}

// The fixtures land as a controller would have left them: status written,
// ClusterIPs allocated by the server, headless services still headless.
func TestCreateWritesStatusAndAllocatesClusterIPs(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, t.Name())
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	ctx := context.Background()

	pg, err := env.Dynamic.Resource(clusterV1).Namespace(ns).Get(ctx, "mypg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if phase, _, _ := unstructured.NestedString(pg.Object, "status", "phase"); phase != "Running" {
		t.Errorf("Cluster mypg status.phase = %q, want Running (written through /status)", phase)
	}
	svc, err := env.Typed.CoreV1().Services(ns).Get(ctx, "mypg-postgresql-postgresql", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip := svc.Spec.ClusterIP; ip == "" || ip == "None" || !strings.HasPrefix(ip, "10.96.") {
		t.Errorf("ClusterIP = %q, want one allocated from 10.96.0.0/16", ip)
	}
	headless, err := env.Typed.CoreV1().Services(ns).Get(ctx, "mypg-postgresql-headless", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if headless.Spec.ClusterIP != "None" {
		t.Errorf("headless service ClusterIP = %q, want None", headless.Spec.ClusterIP)
	}
	pod, err := env.Typed.CoreV1().Pods(ns).Get(ctx, "mypg-postgresql-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != "Running" {
		t.Errorf("pod phase = %q, want Running", pod.Status.Phase)
	}
}

// Swapping CRD versions changes what the server serves: 0.9.5 has no v1.
func TestUseKubeBlocksSwapsServedVersions(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	env.UseKubeBlocks(t, "0.9.5")
	_, err := env.Dynamic.Resource(clusterV1).Namespace("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("KubeBlocks 0.9.5: listing v1 clusters: err = %v, want NotFound", err)
	}
	env.UseKubeBlocks(t, "1.0.1")
	if _, err := env.Dynamic.Resource(clusterV1).Namespace("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("KubeBlocks 1.0.1: listing v1 clusters: %v", err)
	}
}

func TestDryRunCreateReportsEachObject(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, t.Name())
	objs, err := kubetest.Decode([]byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: bad-port}
spec:
  ports: [{port: 70000}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unknown-field}
data: {a: b}
dataa: {a: b}
---
apiVersion: apps.kubeblocks.io/v1
kind: Cluster
metadata: {name: bad-enum}
spec: {terminationPolicy: Sometimes}
`))
	if err != nil {
		t.Fatal(err)
	}
	errs := env.DryRunCreate(context.Background(), ns, objs)
	want := []string{"", "70000", "dataa", "Sometimes"}
	for i, w := range want {
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("object %d: unexpected error %v", i, errs[i])
		case w != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), w)):
			t.Errorf("object %d: error %v, want one mentioning %q", i, errs[i], w)
		}
	}
	// A dry run stores nothing.
	if _, err := env.Typed.CoreV1().ConfigMaps(ns).Get(context.Background(), "fine", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run stored the ConfigMap: err = %v", err)
	}
}

func TestUserGetsOnlyWhatIsGranted(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t, t.Name())
	kc := env.User(t, "pod-reader", kubetest.Grant{Namespace: ns, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
	}})
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("granted list pods: %v", err)
	}
	if _, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets: err = %v, want Forbidden", err)
	}
}
