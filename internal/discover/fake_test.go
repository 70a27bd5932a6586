package discover

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// world is a fake API server built from fixture objects: typed objects in
// client-go's fake clientset, Clusters behind a reactor that serves them
// through the API versions a KubeBlocks CRD serves (without conversion,
// like the real CRDs).
type world struct {
	objs   []*unstructured.Unstructured
	served []string // Cluster API versions served
	// fail makes a verb+resource fail with the given error.
	fail map[string]error
}

// fixture loads ../shared/kubeblocks/fixtures/<file>.
func fixture(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(testutil.SharedFile(t, "kubeblocks/fixtures/"+file))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// servedBy is what each KubeBlocks release's CRD serves (crds/SOURCES.md).
var servedBy = map[string][]string{
	"0.8": {"v1alpha1"},
	"0.9": {"v1alpha1"},
	"1.0": {"v1", "v1alpha1"},
	"1.2": {"v1"}, // apecloud/kubeblocks #10469 deleted v1alpha1
}

// client builds a kube.Client on the fakes, and the action log.
func (w *world) client(t *testing.T) (*kube.Client, func() []k8stesting.Action) {
	t.Helper()
	var typed []runtime.Object
	var clusters []*unstructured.Unstructured
	for _, o := range w.objs {
		var obj runtime.Object
		switch o.GetKind() {
		case "Cluster":
			clusters = append(clusters, o)
			continue
		case "Service":
			obj = &corev1.Service{}
		case "Secret":
			obj = &corev1.Secret{}
		case "Pod":
			obj = &corev1.Pod{}
		case "Node":
			obj = &corev1.Node{}
		default:
			t.Fatalf("fixture kind %s", o.GetKind())
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, obj); err != nil {
			t.Fatal(err)
		}
		typed = append(typed, obj)
	}
	cs := fake.NewClientset(typed...)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		ClusterResource("v1"): "ClusterList", ClusterResource("v1alpha1"): "ClusterList",
	})
	dyn.PrependReactor("list", "clusters", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if err := w.fail["list clusters"]; err != nil {
			return true, nil, err
		}
		v := a.GetResource().Version
		if !slices.Contains(w.served, v) {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{}, "")
		}
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": ClusterGroup + "/" + v, "kind": "ClusterList"}}
		for _, c := range clusters {
			if c.GetNamespace() == a.GetNamespace() {
				cp := c.DeepCopy()
				cp.SetAPIVersion(ClusterGroup + "/" + v) // no conversion: same fields
				list.Items = append(list.Items, *cp)
			}
		}
		return true, list, nil
	})
	for key, err := range w.fail {
		verb, res, _ := strings.Cut(key, " ")
		if res == "clusters" {
			continue
		}
		cs.PrependReactor(verb, res, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	}
	c := &kube.Client{Typed: cs, Dynamic: dyn, Namespace: "harbor", Context: "fake", Server: "https://fake:6443"}
	actions := func() []k8stesting.Action { return append(dyn.Actions(), cs.Actions()...) }
	return c, actions
}

// edit applies f to the fixture object of that kind and name.
func edit(t *testing.T, objs []*unstructured.Unstructured, kind, name string, f func(o *unstructured.Unstructured)) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			f(o)
			return
		}
	}
	t.Fatalf("no %s %s in the fixture", kind, name)
}

func drop(objs []*unstructured.Unstructured, kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != kind || o.GetName() != name {
			out = append(out, o)
		}
	}
	return out
}

func set(t *testing.T, o *unstructured.Unstructured, value any, fields ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(o.Object, value, fields...); err != nil {
		t.Fatal(err)
	}
}

// secretValue decodes a fixture Secret's key (fixtures carry base64 data).
func secretValue(t *testing.T, objs []*unstructured.Unstructured, name, key string) string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GetName() == name {
			s := &corev1.Secret{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, s); err != nil {
				t.Fatal(err)
			}
			return string(s.Data[key])
		}
	}
	t.Fatalf("no secret %s", name)
	return ""
}

func (w *world) String() string {
	return fmt.Sprintf("world(%d objects, served %v)", len(w.objs), w.served)
}
