package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
)

// Decode splits a multi-document YAML stream into objects (empty
// documents are skipped).
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// Fixture reads ../shared/kubeblocks/fixtures/<file>.
func Fixture(t testing.TB, file string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(readAll(t, testutil.SharedFile(t, "kubeblocks/fixtures/"+file)))
	if err != nil {
		t.Fatalf("fixture %s: %v", file, err)
	}
	return objs
}

// CRDFile is the KubeBlocks Cluster CRD of a release, e.g. "1.0.1".
func CRDFile(t testing.TB, version string) string {
	t.Helper()
	return testutil.SharedFile(t, "kubeblocks/crds/clusters.apps.kubeblocks.io.kb-v"+version+".yaml")
}

// ClusterCRD is the name of KubeBlocks' Cluster CRD.
const ClusterCRD = "clusters.apps.kubeblocks.io"

// UseKubeBlocks installs the clusters.apps.kubeblocks.io CRD of a
// KubeBlocks release ("0.7.5", "0.8.4", "0.9.5", "1.0.1", or
// KubeBlocks12API), replacing another version if one is installed, and
// waits until it is served. Version "" removes it (KubeBlocks not
// installed).
func (e *Env) UseKubeBlocks(t testing.TB, version string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kbVersion == version {
		return
	}
	crd := &unstructured.Unstructured{}
	crd.SetName(ClusterCRD)
	if version != "" {
		crd = clusterCRD(t, version)
	}
	c := ctx(t)
	gone := e.deleteClusterCRD(t, c, crd.GetName())
	if version == "" {
		e.waitServed(t, nil, gone)
		e.mapper.Reset()
		return
	}
	e.createEstablished(t, c, crd, version)
	var served []schema.GroupVersionResource
	for _, v := range servedVersions(crd) {
		served = append(served, crdGVRFor(crd, v))
	}
	e.waitServed(t, served, gone)
	e.mapper.Reset()
	e.kbVersion = version
}

// deleteClusterCRD deletes the installed Cluster CRD, if any, and returns
// the versions it served. Deleting a CRD deletes its objects (the
// apiextensions finalizer runs inside kube-apiserver), then the CRD; the
// objects' own finalizers (cluster.kubeblocks.io/finalizer) would wait
// forever for a KubeBlocks controller that does not run here: dropped.
func (e *Env) deleteClusterCRD(t testing.TB, c context.Context, name string) []schema.GroupVersionResource {
	t.Helper()
	crds := e.Dynamic.Resource(crdGVR)
	var gone []schema.GroupVersionResource
	if old, err := crds.Get(c, name, metav1.GetOptions{}); err == nil {
		for _, v := range servedVersions(old) {
			gone = append(gone, crdGVRFor(old, v))
		}
		if err := e.dropFinalizers(c, old); err != nil {
			t.Fatalf("removing finalizers from %s objects: %v", name, err)
		}
	}
	err := crds.Delete(c, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting CRD %s: %v", name, err)
	}
	e.kbVersion = ""
	if err := wait.PollUntilContextTimeout(c, 100*time.Millisecond, time.Minute, true, func(c context.Context) (bool, error) {
		_, err := crds.Get(c, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("CRD %s still present after deletion: %v", name, err)
	}
	return gone
}

// createEstablished creates a CRD and waits until it is Established.
// Create, not apply: the 1.0.1 CRD is 2.2 MB, too big for the
// last-applied annotation.
func (e *Env) createEstablished(t testing.TB, c context.Context, crd *unstructured.Unstructured, version string) {
	t.Helper()
	crds := e.Dynamic.Resource(crdGVR)
	if _, err := crds.Create(c, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating CRD %s of KubeBlocks %s: %v", crd.GetName(), version, err)
	}
	if err := wait.PollUntilContextTimeout(c, 100*time.Millisecond, time.Minute, true, func(c context.Context) (bool, error) {
		got, err := crds.Get(c, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil // conditions start empty: poll rather than wait on the field
	}); err != nil {
		t.Fatalf("CRD %s of KubeBlocks %s not Established: %v", crd.GetName(), version, err)
	}
}

// waitServed waits until the API server's handlers agree with the CRDs:
// each of served answers a list, each other one of gone answers 404.
// Established (or the CRD's deletion) can precede both by a moment.
func (e *Env) waitServed(t testing.TB, served, gone []schema.GroupVersionResource) {
	t.Helper()
	c := ctx(t)
	for _, gvr := range gone {
		if slices.Contains(served, gvr) {
			continue
		}
		if err := wait.PollUntilContextTimeout(c, 50*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
			_, err := e.Dynamic.Resource(gvr).Namespace("default").List(c, metav1.ListOptions{Limit: 1})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			t.Fatalf("%s still served: %v", gvr, err)
		}
	}
	for _, gvr := range served {
		if err := wait.PollUntilContextTimeout(c, 50*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
			_, err := e.Dynamic.Resource(gvr).Namespace("default").List(c, metav1.ListOptions{Limit: 1})
			return err == nil, nil
		}); err != nil {
			t.Fatalf("%s not served: %v", gvr, err)
		}
	}
}

// dropFinalizers removes the finalizers of every object of a CRD.
func (e *Env) dropFinalizers(c context.Context, crd *unstructured.Unstructured) error {
	for _, v := range servedVersions(crd) {
		ri := e.Dynamic.Resource(crdGVRFor(crd, v))
		l, err := ri.List(c, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range l.Items {
			if len(o.GetFinalizers()) == 0 {
				continue
			}
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if _, err := ri.Namespace(o.GetNamespace()).Patch(c, o.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil // every version lists the same objects
	}
	return nil
}

func servedVersions(crd *unstructured.Unstructured) []string {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []string
	for _, v := range vs {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); served {
			name, _ := m["name"].(string)
			out = append(out, name)
		}
	}
	return out
}

func crdGVRFor(crd *unstructured.Unstructured, version string) schema.GroupVersionResource {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	return schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a fresh namespace named after prefix and returns its
// name. Namespaces are never deleted (no namespace controller runs).
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	p := strings.Trim(nonName.ReplaceAllString(strings.ToLower(prefix), "-"), "-")
	if len(p) > 40 {
		p = p[:40]
	}
	name := fmt.Sprintf("%s-%06d", p, rand.IntN(1000000))
	e.EnsureNamespace(t, name)
	return name
}

// EnsureNamespace creates a namespace if it does not exist.
func (e *Env) EnsureNamespace(t testing.TB, name string) {
	t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	if _, err := e.Dynamic.Resource(nsGVR).Create(ctx(t), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// resource maps an object to its resource client, in namespace ns when
// the kind is namespaced.
func (e *Env) resource(obj *unstructured.Unstructured, ns string) (dynamic.ResourceInterface, bool, error) {
	gvk := obj.GroupVersionKind()
	m, err := e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		e.mapper.Reset() // a CRD may have appeared since discovery was cached
		m, err = e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %v", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return e.Dynamic.Resource(m.Resource).Namespace(ns), true, nil
	}
	return e.Dynamic.Resource(m.Resource), false, nil
}

// Create creates fixture objects in namespace ns, as a controller would
// have left them: server-generated metadata is dropped, Services get
// ClusterIPs from the server (headless ones stay headless), and .status is
// written through the /status subresource. Field validation is Strict, so
// a fixture field the real schema does not know fails the test.
func (e *Env) Create(t testing.TB, ns string, objs ...*unstructured.Unstructured) {
	t.Helper()
	if err := e.CreateObjects(ctx(t), ns, objs...); err != nil {
		t.Fatal(err)
	}
}

// CreateObjects is Create for callers without a testing.TB (benchmarks'
// bulk setup); it uses a few workers and returns the first error.
func (e *Env) CreateObjects(c context.Context, ns string, objs ...*unstructured.Unstructured) error {
	const workers = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan *unstructured.Unstructured)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				if err := e.createOne(c, ns, o); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range objs {
		next <- o
	}
	close(next)
	wg.Wait()
	return first
}

func (e *Env) createOne(c context.Context, ns string, in *unstructured.Unstructured) error {
	o := in.DeepCopy()
	status, hasStatus, _ := unstructured.NestedFieldCopy(o.Object, "status")
	unstructured.RemoveNestedField(o.Object, "status")
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	if o.GetKind() == "Service" {
		if ip, _, _ := unstructured.NestedString(o.Object, "spec", "clusterIP"); ip != "None" {
			unstructured.RemoveNestedField(o.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(o.Object, "spec", "clusterIPs")
		}
	}
	ri, namespaced, err := e.resource(o, ns)
	if err != nil {
		return err
	}
	if namespaced {
		o.SetNamespace(ns)
	}
	what := fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	created, err := ri.Create(c, o, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		return fmt.Errorf("creating %s: %v", what, err)
	}
	if !hasStatus {
		return nil
	}
	// On the simulated cluster the scheduler may bind a fixture pod between
	// its creation and this write: retry on the newer object.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := unstructured.SetNestedField(created.Object, status, "status"); err != nil {
			return err
		}
		_, err := ri.UpdateStatus(c, created, metav1.UpdateOptions{FieldValidation: "Strict"})
		if apierrors.IsConflict(err) {
			if latest, getErr := ri.Get(c, created.GetName(), metav1.GetOptions{}); getErr == nil {
				created = latest
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("writing the status of %s: %v", what, err)
	}
	return nil
}

// DryRunCreate sends each object to the API server as a server-side dry
// run (dryRun=All, fieldValidation=Strict): admission, defaulting and
// schema validation all run, nothing is stored. Namespaced objects without
// a namespace go to ns, which must exist. The result has one entry per
// object: nil when the server accepted it.
func (e *Env) DryRunCreate(c context.Context, ns string, objs []*unstructured.Unstructured) []error {
	errs := make([]error, len(objs))
	for i, in := range objs {
		o := in.DeepCopy()
		target := o.GetNamespace()
		if target == "" {
			target = ns
		}
		ri, namespaced, err := e.resource(o, target)
		if err != nil {
			errs[i] = err
			continue
		}
		if namespaced {
			o.SetNamespace(target)
		}
		_, err = ri.Create(c, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			errs[i] = fmt.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	return errs
}
