package lint

import (
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// HA015
func checkPinnedUnderAutoscaler(c *checker) {
	for _, w := range c.model.Components() {
		h := c.model.Autoscaler(w)
		if h == nil || !w.PinsReplicas() {
			continue
		}
		lo, hi := h.Range()
		c.forComponent(w, "%s pins spec.replicas to %d while HorizontalPodAutoscaler %s scales it between %d and %d: every helm upgrade and GitOps sync sets the count back to %d, whatever the load", w.Component, w.Replicas(), h.Autoscaler.Name, lo, hi, w.Replicas())
	}
}

// HA016
func checkAutoscalerCPURequests(c *checker) {
	for _, w := range c.model.Components() {
		h := c.model.Autoscaler(w)
		if h == nil || !harbor.ScalesOnCPU(h.Autoscaler) {
			continue
		}
		if missing := w.ContainersWithoutCPURequest(); len(missing) > 0 {
			which := "container " + missing[0] + " requests"
			if len(missing) > 1 {
				which = "containers " + strings.Join(missing, " and ") + " request"
			}
			c.forComponent(w, "HorizontalPodAutoscaler %s scales %s on CPU use relative to the pods' requests, but %s no CPU: the autoscaler cannot compute a utilisation (FailedGetResourceMetric) and never scales", h.Autoscaler.Name, w.Component, which)
		}
	}
}
