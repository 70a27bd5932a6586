package lint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
)

// FieldManager is the field manager of --validate's dry runs.
const FieldManager = "harborha-lint"

// validateTimeout bounds all of --validate's requests together: an API
// server that stops answering must not hang CI.
const validateTimeout = 2 * time.Minute

// warnings collects the API server's Warning headers for one request at a
// time (requests are sequential).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.list, text) {
		w.list = append(w.list, text)
	}
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// rbacDenied matches an authorization failure, as opposed to a 403 from
// admission (a webhook, a quota), which is about the object itself.
var rbacDenied = regexp.MustCompile(`cannot [a-z]+ resource`)

// validate sends every object to the API server as a server-side dry run
// (dryRun=All, fieldValidation=Strict): the server runs defaulting, schema
// and admission checks and stores nothing. An object that already exists
// (a release being upgraded) is checked as a server-side apply dry run
// instead, so that it is judged as the upgrade would change it (immutable
// fields included) rather than refused as AlreadyExists. Each rejection is
// an HA100 finding and each warning an HA101 finding; problems that are
// not about an object (no access, no such namespace, no answer) end the
// run with an error.
func validate(ctx context.Context, c *kube.Client, docs []*manifest.Doc) ([]Finding, error) {
	// client-go logs discovery and throttling trouble through klog; this
	// command reports errors itself, as one line.
	klog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	cfg := rest.CopyConfig(c.Config)
	warn := &warnings{}
	cfg.WarningHandler = warn
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--validate: cannot configure a client for %s: %v", c.Where(), err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Typed.Discovery()))
	rejected, warned := RuleByID(ruleRejected), RuleByID(ruleServerWarned)
	var out []Finding
	finding := func(r *Rule, d *manifest.Doc, msg string) {
		out = append(out, Finding{Rule: r.ID, Severity: r.Severity, Object: objectOf(d), Message: msg, Fix: r.Fix, doc: d})
	}
	force := true
	for _, d := range docs {
		gvk := d.Obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			finding(rejected, d, fmt.Sprintf("the API server %s does not serve %s %s: an API version Kubernetes removed, or a CustomResourceDefinition that is not installed", c.Where(), d.Obj.GetAPIVersion(), d.Obj.GetKind()))
			continue
		}
		if err != nil {
			return nil, c.Explain(err, kube.Op{Verb: "list", Resource: "API resources (discovery)"})
		}
		obj := d.Obj.DeepCopy()
		ri := dynamic.ResourceInterface(dyn.Resource(m.Resource))
		ns := ""
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns = obj.GetNamespace()
			if ns == "" {
				ns = c.Namespace // where Helm installs objects that name none
				obj.SetNamespace(ns)
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		body, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Describe(), err)
		}
		_, err = ri.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager, FieldValidation: "Strict"})
		if apierrors.IsAlreadyExists(err) {
			warn.take() // the create's warnings; the apply gives its own
			_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
				DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager, Force: &force, FieldValidation: "Strict",
			})
		}
		for _, w := range warn.take() {
			finding(warned, d, "the API server warns: "+output.OneLine(w))
		}
		if err == nil {
			continue
		}
		op := kube.Op{Verb: "patch", Resource: m.Resource.Resource, Group: m.Resource.Group, Namespace: ns, Name: obj.GetName()}
		if missingNamespace(err) {
			return nil, fmt.Errorf("--validate: namespace %q does not exist on %s; create it, or choose another with -n/--namespace", ns, c.Where())
		}
		if notAboutObject(err) {
			return nil, c.Explain(err, op)
		}
		finding(rejected, d, "the API server rejects it: "+output.OneLine(err.Error()))
	}
	return out, nil
}

// notAboutObject reports errors that say nothing about the object: no
// access, no answer, a missing namespace. Everything else the server
// answers with (invalid, bad request, admission denial) is a finding.
func notAboutObject(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // transport: connection refused, TLS, timeout
	}
	switch {
	case apierrors.IsInternalError(err):
		// Server-side apply answers 500 for an object that does not fit
		// the schema; any other 500 is the server's own trouble.
		return !strings.Contains(status.Status().Message, "typed patch")
	case apierrors.IsUnauthorized(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err):
		return true
	case apierrors.IsForbidden(err):
		return rbacDenied.MatchString(status.Status().Message)
	}
	return false
}

// missingNamespace is the NotFound the server answers for an object in a
// namespace that does not exist.
func missingNamespace(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
