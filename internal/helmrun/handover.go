package helmrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// handoverManager is the field manager that holds an autoscaled
// workload's replica count across the upgrade that stops pinning it.
const handoverManager = "harborha-autoscale-handover"

// handOver keeps the live replica count of each workload that --autoscale
// takes over, across the `upgrade` whose manifest stops pinning it.
//
// Helm 4 applies server-side: an upgrade whose manifest drops
// spec.replicas withdraws Helm's claim on it, and a field no manager
// claims is removed, which the API server defaults to 1: every pod but
// one stops until the autoscaler's next sync (measured on the simulated
// cluster). Kubernetes' remedy (server-side apply, "Transferring
// ownership") is a second manager claiming the same value first; the
// autoscaler's first change then takes the field over from it. Only a
// count an applier (Helm) still claims needs it: once the autoscaler has
// scaled, or after the transition, nothing is done.
//
// Helm's client-side three-way merge (Helm 3, or Helm 4 on a release it
// does not apply server-side) deletes the field whatever its managers (its
// patch holds replicas: null), so there the transition drops to 1 pod for
// a moment: one line says so before it happens.
//
// The claim stays until the autoscaler changes the count. Pinning a count
// again (dropping --autoscale) then conflicts on Helm 4 with whoever holds
// it, the autoscaler or this claim, as any change of an autoscaled count
// does: Helm's --force-conflicts takes it back. It runs last before Helm,
// and never with --dry-run.
func (o *Options) handOver(ctx context.Context, progress io.Writer) {
	knobs := o.input.Knobs
	if o.Action != "upgrade" || o.Release.DryRun {
		return
	}
	c, err := o.input.Cluster.Client()
	if err != nil {
		return // preflight has said so
	}
	for _, w := range liveWorkloads(ctx, c, o.Release.Name) {
		if _, ok := knobs.Autoscale.For(w.component, w.kind, knobs.Replicas); !ok {
			continue
		}
		appliers, updaters := replicaOwners(w.managed)
		switch {
		case len(appliers) > 0:
			if err := claimReplicas(ctx, c, w); err != nil {
				op := kube.Op{Verb: "patch", Resource: w.resource, Group: "apps", Namespace: c.Namespace, Name: w.name}
				fmt.Fprintf(progress, "harborha: could not hand %s's %d replicas over to its autoscaler: %v; the upgrade may run it on 1 pod until the autoscaler's next sync\n", w.name, w.replicas, c.Explain(err, op))
				continue
			}
			fmt.Fprintf(progress, "harborha: %s keeps its %d replicas while Helm stops pinning them (field manager %s holds the count until its autoscaler changes it)\n", w.name, w.replicas, handoverManager)
		case len(updaters) > 0:
			fmt.Fprintf(progress, "harborha: warning: this upgrade stops pinning %s's replicas for its autoscaler, and Helm's client-side merge deletes the field: it runs 1 pod until the autoscaler's next sync (once; Helm 4 applying server-side keeps the count)\n", w.name)
		}
	}
}

// liveWorkload is a Deployment or StatefulSet of the release on the
// cluster, as handOver needs it.
type liveWorkload struct {
	kind, resource, name, component string
	replicas                        int32
	managed                         []metav1.ManagedFieldsEntry
}

// liveWorkloads are the release's Deployments and StatefulSets, found by
// the release label the chart puts on every object and known by the
// component of their selector, as the post-renderer knows them. An error
// (RBAC, unreachable) gives none: the handover is a courtesy, not a check.
func liveWorkloads(ctx context.Context, c *kube.Client, release string) []liveWorkload {
	sel := metav1.ListOptions{LabelSelector: harbor.LabelRelease + "=" + release}
	var out []liveWorkload
	if list, err := c.Typed.AppsV1().Deployments(c.Namespace).List(ctx, sel); err == nil {
		for _, d := range list.Items {
			if d.Spec.Selector != nil && d.Spec.Replicas != nil {
				out = append(out, liveWorkload{"Deployment", "deployments", d.Name, d.Spec.Selector.MatchLabels[harbor.LabelComponent], *d.Spec.Replicas, d.ManagedFields})
			}
		}
	}
	if list, err := c.Typed.AppsV1().StatefulSets(c.Namespace).List(ctx, sel); err == nil {
		for _, s := range list.Items {
			if s.Spec.Selector != nil && s.Spec.Replicas != nil {
				out = append(out, liveWorkload{"StatefulSet", "statefulsets", s.Name, s.Spec.Selector.MatchLabels[harbor.LabelComponent], *s.Spec.Replicas, s.ManagedFields})
			}
		}
	}
	return out
}

// replicaOwners are the managers that own spec.replicas of the object
// itself (not through the scale subresource, the autoscaler's way), by
// operation: appliers (Helm 4) and updaters (Helm 3, kubectl edit). Our
// own claim is neither.
func replicaOwners(managed []metav1.ManagedFieldsEntry) (appliers, updaters []string) {
	for _, m := range managed {
		if m.Subresource != "" || m.Manager == handoverManager || m.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(m.FieldsV1.Raw, &fields) != nil {
			continue
		}
		if _, ok := fields.Spec["f:replicas"]; !ok {
			continue
		}
		if m.Operation == metav1.ManagedFieldsOperationApply {
			appliers = append(appliers, m.Manager)
		} else {
			updaters = append(updaters, m.Manager)
		}
	}
	return appliers, updaters
}

// claimReplicas applies the live count under handoverManager: the same
// value, so it conflicts with no one and shares the field with Helm.
func claimReplicas(ctx context.Context, c *kube.Client, w liveWorkload) error {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": w.kind,
		"metadata": map[string]any{"name": w.name, "namespace": c.Namespace},
		"spec":     map[string]any{"replicas": w.replicas},
	})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: handoverManager}
	if w.kind == "Deployment" {
		_, err = c.Typed.AppsV1().Deployments(c.Namespace).Patch(ctx, w.name, types.ApplyPatchType, body, opts)
	} else {
		_, err = c.Typed.AppsV1().StatefulSets(c.Namespace).Patch(ctx, w.name, types.ApplyPatchType, body, opts)
	}
	return err
}
