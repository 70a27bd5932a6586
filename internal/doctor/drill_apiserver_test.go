package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/probe/probetest"
)

// drillRBAC is docs/doctor.md's RBAC table for doctor --drill=database
// on a release whose clusters share its namespace: the checks' reads,
// then the drill's.
func drillRBAC(ns string) []kubetest.Grant {
	return []kubetest.Grant{{Namespace: ns, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "configmaps", "events", "services"}, Verbs: []string{"list"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims", "pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"apps.kubeblocks.io"}, Resources: []string{"clusters"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"watch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"operations.kubeblocks.io", "apps.kubeblocks.io"}, Resources: []string{"opsrequests"}, Verbs: []string{"create", "get"}},
	}}, {Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}}}}
}

// The database drill against the real kube-apiserver, run as realdrill
// runs it (flags, stdin, -o json) by a user with exactly the RBAC the
// docs list. No KubeBlocks runs here: the test plays its operator. First
// without the OpsRequest CRD (one line, nothing broken), then with a
// minimal one authored here; a wrong admin password in the release's
// Secret is refused in one line naming the Secret.
func TestDrillOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := liveWorld(t, env, 0)
	kubeconfig := env.User(t, "doctor-drill", drillRBAC(ns)...)
	harbor := probetest.NewHarbor(t, adminPassword)
	args := []string{release, "--kubeconfig", kubeconfig, "-n", ns, "--drill=database", "--yes", "-o", "json",
		"--harbor-url", harbor.URL, "--harbor-password-stdin", "--settle=500ms", "--timeout=1m"}

	out, err := runDoctor(t, args, adminPassword+"\n")
	if err == nil || !strings.Contains(err.Error(), "the server serves no KubeBlocks OpsRequest API") || out != "" {
		t.Fatalf("without the CRD: %v, output %q", err, out)
	}

	installOpsRequestCRD(t, env)
	op := &apiOperator{env: env, ns: ns, from: "mypg-postgresql-0", to: "mypg-postgresql-1", service: "mypg-postgresql-postgresql"}
	op.run(t, false)
	d := drillOK(t, args, "database/switchover", op)
	if d.OpsRequest == "" {
		t.Errorf("no OpsRequest named: %+v", d.ClusterFault)
	}

	// --crash: the primary, now mypg-postgresql-1, deleted with no grace
	// period (no kubelet here: gone at once); the operator fails over back.
	crash := &apiOperator{env: env, ns: ns, from: "mypg-postgresql-1", to: "mypg-postgresql-0", service: "mypg-postgresql-postgresql"}
	crash.run(t, true)
	drillOK(t, append(args, "--crash"), "database/crash", crash)
	if _, err := env.Typed.CoreV1().Pods(ns).Get(t.Context(), crash.from, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the crashed primary is still there: %v", err)
	}

	// The release's Secret holds an admin password Harbor no longer takes.
	harbor.Password = "changed-since-install"
	noStdin := slicesWithout(args, "--harbor-password-stdin")
	if _, err := runDoctor(t, noStdin, ""); err == nil || !strings.Contains(err.Error(), `refused user "admin" with the password from Secret myharbor-core key HARBOR_ADMIN_PASSWORD (401)`) {
		t.Errorf("refused: %v", err)
	}
}

// drillOK runs a drill of one fault that must be ok: the role moved, the
// Service followed, no request failed.
func drillOK(t *testing.T, args []string, fault string, op *apiOperator) DrillResult {
	t.Helper()
	out, err := runDoctor(t, args, adminPassword+"\n")
	if err != nil {
		t.Fatalf("%s: %v\n%s", fault, err, out)
	}
	var rep struct {
		Drill []DrillResult `json:"drill"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Drill) != 1 {
		t.Fatalf("JSON %v: %s", err, out)
	}
	d := rep.Drill[0]
	t.Logf("%s: %s", fault, d.Message)
	if d.Fault != fault || d.Status != OK || d.ClusterFault == nil || d.NewPrimary != op.to || d.OldPrimary != op.from ||
		d.RoleMovedSeconds <= 0 || d.ServiceFollowedSeconds < d.RoleMovedSeconds || d.Figures == nil || d.Requests == 0 || d.FailedRequests != 0 {
		t.Errorf("drill result %+v %+v %+v", d, d.ClusterFault, d.Figures)
	}
	return d
}

// runDoctor runs the command as the plugin does: flags, Complete,
// Validate, Run; it returns stdout.
func runDoctor(t *testing.T, args []string, stdin string) (string, error) {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if err := o.Complete(fs.Args()); err != nil {
		return "", err
	}
	if err := o.Validate(); err != nil {
		return "", err
	}
	o.baseline = 300 * time.Millisecond
	var out, progress bytes.Buffer
	err := o.Run(t.Context(), command.Streams{In: strings.NewReader(stdin), Out: &out, Err: &progress})
	t.Logf("doctor's progress:\n%s", progress.String())
	return out.String(), err
}

func slicesWithout(s []string, drop string) []string {
	var out []string
	for _, x := range s {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}

// installOpsRequestCRD authors the smallest OpsRequest CRD of KubeBlocks
// 1.0's group (no schema: the drill is what reads and writes it here) and
// waits until it is served.
func installOpsRequestCRD(t *testing.T, env *kubetest.Env) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "opsrequests.operations.kubeblocks.io"},
		"spec": map[string]any{
			"group": "operations.kubeblocks.io", "scope": "Namespaced",
			"names": map[string]any{"kind": "OpsRequest", "listKind": "OpsRequestList", "plural": "opsrequests", "singular": "opsrequest"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema":       map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
				"subresources": map[string]any{"status": map[string]any{}}}},
		},
	}}
	crds := env.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(t.Context(), crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := env.Dynamic.Resource(opsRequests10).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("OpsRequest CRD not served: %v", err)
	}
	// The first create of a CRD's objects takes 2 s on kube-apiserver
	// (measured here: 2.00 s, then 3 ms); a cluster's KubeBlocks CRDs are
	// older than any drill, so the drill's own create must not pay it.
	warm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": opsRequests10.GroupVersion().String(), "kind": "OpsRequest", "metadata": map[string]any{"name": "warm-up"}}}
	ri := env.Dynamic.Resource(opsRequests10).Namespace("default")
	if _, err := ri.Create(t.Context(), warm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// apiOperator plays KubeBlocks' operator on the API server: on a
// Switchover OpsRequest it moves kubeblocks.io/role to the other pod,
// points the primary Service's EndpointSlice at it (no EndpointSlice
// controller runs here either) and marks the OpsRequest Succeed.
type apiOperator struct {
	env                   *kubetest.Env
	ns, from, to, service string
}

// run answers OpsRequests, or with crash the primary pod's deletion,
// until the test ends.
func (a *apiOperator) run(t *testing.T, crash bool) {
	var w watch.Interface
	var err error
	if crash {
		w, err = a.env.Typed.CoreV1().Pods(a.ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + a.from})
	} else {
		w, err = a.env.Dynamic.Resource(opsRequests10).Namespace(a.ns).Watch(t.Context(), metav1.ListOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			ops, isOps := ev.Object.(*unstructured.Unstructured)
			if (crash && ev.Type != watch.Deleted) || (!crash && (!isOps || ev.Type != watch.Added)) {
				continue
			}
			t.Logf("the test plays KubeBlocks' operator: %s %s: %s becomes primary in place of %s", ev.Type, objectName(ev.Object), a.to, a.from)
			if err := a.failover(t.Context()); err != nil {
				t.Errorf("playing the failover: %v", err)
			}
			if isOps {
				unstructured.SetNestedField(ops.Object, "Succeed", "status", "phase")
				if _, err := a.env.Dynamic.Resource(opsRequests10).Namespace(a.ns).UpdateStatus(t.Context(), ops, metav1.UpdateOptions{}); err != nil {
					t.Errorf("OpsRequest status: %v", err)
				}
			}
		}
	}()
}

func objectName(o runtime.Object) string {
	if m, err := meta.Accessor(o); err == nil {
		return m.GetName()
	}
	return "?"
}

// failover moves the role label (the deleted pod has none to lose) and
// the primary Service's endpoint to a.to.
func (a *apiOperator) failover(ctx context.Context) error {
	pods := a.env.Typed.CoreV1().Pods(a.ns)
	for name, role := range map[string]string{a.from: "secondary", a.to: "primary"} {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && name == a.from {
			continue // crashed
		}
		if err != nil {
			return err
		}
		p.Labels[discover.LabelRole] = role
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	to, err := pods.Get(ctx, a.to, metav1.GetOptions{})
	if err != nil {
		return err
	}
	slices := a.env.Typed.DiscoveryV1().EndpointSlices(a.ns)
	l, err := slices.List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + a.service})
	if err != nil || len(l.Items) != 1 {
		return errors.Join(err, errors.New("not one EndpointSlice"))
	}
	s := l.Items[0]
	s.Endpoints[0].TargetRef.Name, s.Endpoints[0].TargetRef.UID = to.Name, to.UID
	_, err = slices.Update(ctx, &s, metav1.UpdateOptions{})
	return err
}
