package doctor

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/harborha/helm-harborha/internal/kube"
)

// The OpsRequest APIs a switchover is asked through. KubeBlocks 1.0 moved
// OpsRequest to its own group and changed what instanceName means: the
// instance that gives up its role (apis/operations/v1alpha1
// opsrequest_types.go, Switchover), where 0.9 named the instance to
// become primary, or "*" for any (apis/apps/v1alpha1, same file).
var (
	opsRequests10 = schema.GroupVersionResource{Group: "operations.kubeblocks.io", Version: "v1alpha1", Resource: "opsrequests"}
	opsRequests09 = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1alpha1", Resource: "opsrequests"}
)

// opsAPI is the OpsRequest API the server serves.
type opsAPI struct {
	gvr schema.GroupVersionResource
}

// since10 reports whether instanceName is the current primary (1.0 on).
func (a opsAPI) since10() bool { return a.gvr == opsRequests10 }

// servedOpsAPI asks the server which OpsRequest API it serves, 1.0's
// first. Neither: the drill cannot switch over, and says what to do.
func servedOpsAPI(c *kube.Client) (opsAPI, error) {
	for _, gvr := range []schema.GroupVersionResource{opsRequests10, opsRequests09} {
		gv := gvr.GroupVersion().String()
		l, err := c.Typed.Discovery().ServerResourcesForGroupVersion(gv)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return opsAPI{}, c.Explain(err, kube.Op{Verb: "get", Resource: gvr.Resource, Group: gvr.Group})
		}
		if slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Name == gvr.Resource }) {
			return opsAPI{gvr: gvr}, nil
		}
	}
	return opsAPI{}, fmt.Errorf("the server serves no KubeBlocks OpsRequest API (%s, or %s before KubeBlocks 1.0) on %s: install KubeBlocks' CRDs, or drill with --crash (deletes the primary pod instead of a Switchover)",
		opsRequests10.GroupVersion().String()+" opsrequests", opsRequests09.GroupVersion().String()+" opsrequests", c.Where())
}

// switchover is the OpsRequest that asks KubeBlocks to move component's
// primary role away from primary (1.0: instanceName is the one giving it
// up; 0.9: "*", any other instance takes it).
func (a opsAPI) switchover(ns, cluster, component, primary string) *unstructured.Unstructured {
	instance := "*"
	if a.since10() {
		instance = primary
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"clusterName": cluster,
			"type":        "Switchover",
			"switchover":  []any{map[string]any{"componentName": component, "instanceName": instance}},
		},
	}}
	u.SetAPIVersion(a.gvr.GroupVersion().String())
	u.SetKind("OpsRequest")
	u.SetNamespace(ns)
	u.SetGenerateName(cluster + "-harborha-switchover-")
	u.SetLabels(map[string]string{"app.kubernetes.io/instance": cluster, "app.kubernetes.io/managed-by": "helm-harborha"})
	return u
}

// create asks for the switchover; it returns the OpsRequest's name.
func (a opsAPI) create(ctx context.Context, c *kube.Client, u *unstructured.Unstructured) (string, error) {
	made, err := c.Dynamic.Resource(a.gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return "", c.Explain(err, kube.Op{Verb: "create", Resource: a.gvr.Resource, Group: a.gvr.Group, Namespace: u.GetNamespace()})
	}
	return made.GetName(), nil
}

// phase is the OpsRequest's status.phase and the message of its last
// condition, to explain a switchover that did not happen ("" when it
// cannot be read).
func (a opsAPI) phase(ctx context.Context, c *kube.Client, ns, name string) string {
	u, err := c.Dynamic.Resource(a.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	if phase == "" {
		return "no phase yet: is KubeBlocks' operator running?"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	if n := len(conds); n > 0 {
		if m, ok := conds[n-1].(map[string]any); ok && m["message"] != nil {
			return fmt.Sprintf("phase %s: %v", phase, m["message"])
		}
	}
	return "phase " + phase
}
