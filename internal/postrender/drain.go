package postrender

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// drained are the components that serve requests through a Service: a
// pod of theirs that exits while kube-proxy and the nginx in front still
// send it requests loses them. nginx, portal, core and registry serve
// the clients; jobservice takes core's job submissions and trivy its
// scans, both through their Services. exporter is left out: a scrape
// it misses is retried at the next interval, no request of a user.
var drained = []string{"core", "portal", "registry", "jobservice", "nginx", "trivy"}

// DefaultPreStopSleep is --prestop-sleep's default: long enough for the
// EndpointSlice change to reach kube-proxy on every node (1-2 s measured
// on the real node) with margin, short enough not to slow a rollout much.
const DefaultPreStopSleep = 5

// processGrace is what a process keeps of its termination grace after the
// pause: Kubernetes' default grace, so the pause takes nothing from it.
const processGrace = 30

// drainOps give every container of a drained component a preStop pause
// with Kubernetes' native sleep action (Harbor's images have no shell for
// an exec sleep), and the pod a grace period that holds the pause and
// the process's own shutdown. A container with a preStop hook of its own
// keeps it.
func drainOps(w *harbor.Workload, o Knobs) []jsonOp {
	if o.PreStopSleep == 0 || !slices.Contains(drained, w.Component) {
		return nil
	}
	var ops []jsonOp
	hook := map[string]any{"sleep": map[string]any{"seconds": o.PreStopSleep}}
	spec := w.Template().Spec
	for i, c := range spec.Containers {
		path := fmt.Sprintf("%s/containers/%d/lifecycle", harbor.PodPath, i)
		switch {
		case c.Lifecycle == nil:
			ops = append(ops, set(path, map[string]any{"preStop": hook}))
		case c.Lifecycle.PreStop == nil:
			ops = append(ops, set(path+"/preStop", hook))
		}
	}
	if want := int64(o.PreStopSleep) + processGrace; grace(spec) < want {
		ops = append(ops, set(harbor.PodPath+"/terminationGracePeriodSeconds", want))
	}
	return ops
}

// RegistryDrainEnv sets distribution's http.draintimeout (its env form
// overrides the chart's config.yml, which has none): how long Harbor's
// registry, told to stop, finishes the requests it has. With the chart's
// 0 it exits at once, cutting every blob upload in flight and every
// connection core keeps to it (core's pooled connections outlive the
// endpoint's removal: they are the ones a pause cannot drain).
const RegistryDrainEnv = "REGISTRY_HTTP_DRAINTIMEOUT"

// registryDrain is the drain: within the grace the pause leaves the
// process, with 5 s of margin for its exit.
const registryDrain = (processGrace - 5) * time.Second

// registryDrainOps give the registry container a drain timeout unless its
// env sets one. ops are the workload's operations so far (their env is
// the one the variable joins).
func registryDrainOps(w *harbor.Workload, ops []jsonOp) []jsonOp {
	if w.Component != "registry" {
		return ops
	}
	for _, c := range w.Containers() {
		if c.Name == "registry" && envIndex(c.Env, RegistryDrainEnv) >= 0 {
			return ops
		}
	}
	return withEnv(w, "registry", ops, []corev1.EnvVar{{Name: RegistryDrainEnv, Value: registryDrain.String()}})
}

// grace is a pod's termination grace in seconds, the API server's default
// when unset.
func grace(spec corev1.PodSpec) int64 {
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}
