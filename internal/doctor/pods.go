package doctor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/output"
)

// claimRef is a claim a multi-replica Deployment mounts, by volume.
type claimRef struct{ volume, claim string }

// sharedClaims are the claims of a Deployment with 2 or more replicas:
// every one of its pods mounts them, wherever it runs (StatefulSets get
// a claim per replica instead).
func sharedClaims(w *harbor.Workload) []claimRef {
	if w.Deployment == nil || w.Replicas() < 2 {
		return nil
	}
	var out []claimRef
	for _, v := range w.Template().Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, claimRef{v.Name, v.PersistentVolumeClaim.ClaimName})
		}
	}
	return out
}

type claimResult struct {
	pvc *corev1.PersistentVolumeClaim
	err error
}

// claims gets each shared claim once (usually one: registry's and
// jobservice's --shared-pvc).
func (k *checker) claims(ctx context.Context, comps []*harbor.Workload) map[string]claimResult {
	out := map[string]claimResult{}
	ns := k.c.Namespace
	for _, w := range comps {
		for _, ref := range sharedClaims(w) {
			if _, done := out[ref.claim]; done {
				continue
			}
			pvc, err := k.c.Typed.CoreV1().PersistentVolumeClaims(ns).Get(ctx, ref.claim, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				err = k.c.Explain(err, list("get", "persistentvolumeclaims", "", ns))
			}
			out[ref.claim] = claimResult{pvc, err}
		}
	}
	return out
}

// claimChecks: each shared claim is Bound and ReadWriteMany, or the
// replicas on other nodes cannot mount it (Multi-Attach).
func (k *checker) claimChecks(w *harbor.Workload, claims map[string]claimResult) {
	comp := w.Component
	for _, ref := range sharedClaims(w) {
		res := claims[ref.claim]
		switch {
		case apierrors.IsNotFound(res.err):
			k.r.finding(comp, "claim", "create the claim (helm harborha upgrade --create-shared-pvc), or point --shared-pvc at one that exists",
				"claim %s (volume %s) does not exist: the pods of %s cannot start", ref.claim, ref.volume, comp)
		case res.err != nil:
			k.r.unchecked(comp, "claim", res.err)
		case res.pvc.Status.Phase != corev1.ClaimBound:
			k.r.finding(comp, "claim", "kubectl describe pvc "+ref.claim+": its StorageClass must provision a ReadWriteMany volume, or one must exist",
				"claim %s (volume %s) is %s, not Bound: pods of %s that mount it cannot start", ref.claim, ref.volume, cmp.Or(string(res.pvc.Status.Phase), "without a phase"), comp)
		case !slices.Contains(accessModes(res.pvc), corev1.ReadWriteMany):
			k.r.finding(comp, "claim", "use a ReadWriteMany claim: helm harborha upgrade --shared-pvc NAME --create-shared-pvc --storage-class RWX-CLASS, or object storage",
				"claim %s (volume %s) is %s, not ReadWriteMany: %d pods of %s on different nodes cannot all mount it (Multi-Attach)", ref.claim, ref.volume, modes(res.pvc), w.Replicas(), comp)
		default:
			k.r.ok(comp, "claim", "claim %s (volume %s) Bound, ReadWriteMany", ref.claim, ref.volume)
		}
	}
}

// accessModes are a bound claim's actual modes (its volume's), else the ones asked for.
func accessModes(c *corev1.PersistentVolumeClaim) []corev1.PersistentVolumeAccessMode {
	if len(c.Status.AccessModes) > 0 {
		return c.Status.AccessModes
	}
	return c.Spec.AccessModes
}

func modes(c *corev1.PersistentVolumeClaim) string {
	var s []string
	for _, m := range accessModes(c) {
		s = append(s, string(m))
	}
	return cmp.Or(strings.Join(s, ", "), "without access modes")
}

// pending reports every pod Pending longer than --pending-after with the
// scheduler's reason, from its newest FailedScheduling event (listed only
// when there is such a pod), else from its PodScheduled condition.
func (k *checker) pending(ctx context.Context, comps []*harbor.Workload) {
	long := map[*harbor.Workload][]corev1.Pod{}
	for _, w := range comps {
		for _, p := range podsOf(w, k.l.pods) {
			if p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil && k.now.Sub(p.CreationTimestamp.Time) > k.o.PendingAfter {
				long[w] = append(long[w], p)
			}
		}
	}
	var events []corev1.Event
	if len(long) > 0 {
		events, _ = schedulingEvents(ctx, k.c, k.c.Namespace) // without them, the pods' conditions say why
	}
	for _, w := range comps {
		if len(long[w]) == 0 {
			k.r.ok(w.Component, "pending", "no pod Pending longer than %s", k.o.PendingAfter)
			continue
		}
		for i := range long[w] {
			p := &long[w][i]
			age := k.now.Sub(p.CreationTimestamp.Time).Round(time.Second)
			k.r.finding(w.Component, "pending", pendingFix(p),
				"pod %s Pending for %s: %s", p.Name, age, pendingReason(p, events))
		}
	}
}

func pendingFix(p *corev1.Pod) string {
	if p.Spec.NodeName == "" {
		return "give the scheduler what its reason names: uncordon or add nodes, free resources, or relax hard anti-affinity (helm harborha upgrade --anti-affinity soft)"
	}
	return "kubectl describe pod " + p.Name + ": its containers have not started"
}

// pendingReason says why a pod is Pending: the scheduler's reason, or
// what its containers wait for once it is bound.
func pendingReason(p *corev1.Pod, events []corev1.Event) string {
	if p.Spec.NodeName == "" {
		for i := len(events) - 1; i >= 0; i-- {
			e := &events[i]
			if e.Reason == "FailedScheduling" && e.InvolvedObject.Name == p.Name && (e.InvolvedObject.UID == "" || e.InvolvedObject.UID == p.UID) {
				return "not scheduled: " + output.OneLine(e.Message)
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
				return "not scheduled: " + output.OneLine(c.Message)
			}
		}
		return "not scheduled, and the scheduler has recorded no reason"
	}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return fmt.Sprintf("on node %s, container %s waiting: %s", p.Spec.NodeName, cs.Name, output.OneLine(strings.TrimSpace(w.Reason+" "+w.Message)))
		}
	}
	return fmt.Sprintf("on node %s, its containers not started", p.Spec.NodeName)
}
