package doctor

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Diagnose checks the release o.Release in the client's namespace. An
// error means nothing could be checked: the release's workloads or pods
// cannot be listed, or there are none.
func Diagnose(ctx context.Context, c *kube.Client, o *Options) (*Report, error) {
	if errs := validation.IsDNS1123Subdomain(o.Release); len(errs) > 0 {
		return nil, fmt.Errorf("release %q is not a Helm release name: %s", o.Release, errs[0])
	}
	ns := c.Namespace
	l := listHarbor(ctx, c, ns, o.Release)
	for _, res := range []string{"deployments", "statefulsets", "pods"} {
		if err := l.errs[res]; err != nil {
			return nil, err
		}
	}
	rel, err := l.release()
	if err != nil {
		return nil, err
	}
	if len(rel.Components()) == 0 {
		return nil, fmt.Errorf("no Harbor Deployment or StatefulSet labelled release=%s in namespace %q on %s: check the release name and -n (helm list -n %s)", o.Release, ns, c.Where(), ns)
	}
	r := &Report{Release: o.Release, Namespace: ns, harbor: harborAccessOf(rel, l.configMapsByName())}
	k := &checker{c: c, o: o, r: r, l: l, rel: rel, now: time.Now()}
	if o.now != nil {
		k.now = o.now()
	}
	k.workloads(ctx)
	k.registryRedis(ctx)
	k.kubeBlocks(ctx)
	// Grouped by subject, as the text form shows them.
	sort.SliceStable(r.Checks, func(i, j int) bool {
		return slices.Index(r.subjects, r.Checks[i].Subject) < slices.Index(r.subjects, r.Checks[j].Subject)
	})
	return r, nil
}

// checker holds what the checks share.
type checker struct {
	c   *kube.Client
	o   *Options
	r   *Report
	l   *live
	rel *harbor.Release
	now time.Time
}

// release reads the live workloads, budgets and ConfigMaps through the
// same model the post-renderer and lint read a rendered release with.
func (l *live) release() (*harbor.Release, error) {
	var docs []*manifest.Doc
	add := func(obj runtime.Object, gvk schema.GroupVersionKind) error {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		d := &manifest.Doc{Pos: len(docs) + 1}
		d.Obj = unstructuredOf(m, gvk)
		docs = append(docs, d)
		return nil
	}
	for i := range l.deployments {
		if err := add(&l.deployments[i], appsv1.SchemeGroupVersion.WithKind("Deployment")); err != nil {
			return nil, err
		}
	}
	for i := range l.statefulSets {
		if err := add(&l.statefulSets[i], appsv1.SchemeGroupVersion.WithKind("StatefulSet")); err != nil {
			return nil, err
		}
	}
	for i := range l.budgets {
		if err := add(&l.budgets[i], policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")); err != nil {
			return nil, err
		}
	}
	return harbor.Read(docs)
}

func unstructuredOf(m map[string]any, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

// configMapsByName are the release's ConfigMaps.
func (l *live) configMapsByName() map[string]*corev1.ConfigMap {
	out := map[string]*corev1.ConfigMap{}
	for i := range l.configMaps {
		out[l.configMaps[i].Name] = &l.configMaps[i]
	}
	return out
}
