package bootstrap

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// RedisNodesName is the ConfigMap in Harbor's namespace that records the
// Redis pods bootstrap gave Harbor's ACL user. ACL users are per node and
// not replicated (redis/redis#6738), so a pod that joins later (a replica
// added, a pod rebuilt on a new volume) lacks the user until bootstrap runs
// again: doctor compares the cluster's data pods with this record. It is a
// ConfigMap labelled release=RELEASE, read with the release's ConfigMaps:
// doctor needs no Secret and no further request.
func RedisNodesName(release string) string { return release + "-harborha-redis-nodes" }

// RedisNodes is what the record says.
type RedisNodes struct {
	User      string   // the ACL user
	Namespace string   // the Redis cluster's
	Service   string   // its primary Service, whose selector found the pods
	Pods      []string // the pods that got the user, sorted
}

// Keys of the record's data.
const (
	recordUser      = "user"
	recordNamespace = "namespace"
	recordService   = "service"
	recordPods      = "pods" // one name per line
)

// ReadRedisNodes reads the record from its ConfigMap.
func ReadRedisNodes(cm *corev1.ConfigMap) (RedisNodes, error) {
	r := RedisNodes{User: cm.Data[recordUser], Namespace: cm.Data[recordNamespace], Service: cm.Data[recordService],
		Pods: strings.Fields(cm.Data[recordPods])}
	if r.User == "" || r.Namespace == "" || r.Service == "" || len(r.Pods) == 0 {
		return RedisNodes{}, fmt.Errorf("ConfigMap %s/%s is not bootstrap's record of the Redis pods (it needs keys %s, %s, %s and %s): delete it and run bootstrap again",
			cm.Namespace, cm.Name, recordUser, recordNamespace, recordService, recordPods)
	}
	slices.Sort(r.Pods)
	return r, nil
}

// RedisNodesConfigMap is the record as bootstrap writes it in Harbor's
// namespace ns.
func RedisNodesConfigMap(ns, release string, r RedisNodes) *corev1.ConfigMap {
	labels := generated.Labels(release, "redis")
	labels[harbor.LabelRelease] = release // listed with the release's ConfigMaps (doctor)
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: RedisNodesName(release), Namespace: ns, Labels: labels, Annotations: map[string]string{
			generated.NoteAnnotation: "the Redis pods bootstrap gave Harbor's ACL user; helm harborha doctor reports a data pod that is not here",
		}},
		Data: map[string]string{
			recordUser: r.User, recordNamespace: r.Namespace, recordService: r.Service,
			recordPods: strings.Join(r.Pods, "\n") + "\n",
		},
	}
}

// recordRedisNodes writes the record, or warns: the user is on every node
// by now, and only doctor's check needs the record.
func (r *runner) recordRedisNodes(ctx context.Context, nodes []redisNode) {
	t := r.o.Redis
	rec := RedisNodes{User: t.User, Namespace: t.Namespace, Service: t.Service}
	for _, n := range nodes {
		if n.pod == "" {
			return // addresses given, not pods found: nothing doctor can compare
		}
		rec.Pods = append(rec.Pods, n.pod)
	}
	slices.Sort(rec.Pods)
	ns := r.o.Namespace
	want := RedisNodesConfigMap(ns, r.o.Release, rec)
	cms := r.c.Typed.CoreV1().ConfigMaps(ns)
	cur, err := cms.Get(ctx, want.Name, metav1.GetOptions{})
	op := kube.Op{Verb: "get", Resource: "configmaps", Namespace: ns, Name: want.Name}
	switch {
	case apierrors.IsNotFound(err):
		op.Verb = "create"
		_, err = cms.Create(ctx, want, metav1.CreateOptions{})
	case err == nil && !maps.Equal(cur.Data, want.Data):
		op.Verb = "update"
		cur.Data, cur.Labels, cur.Annotations = want.Data, want.Labels, want.Annotations
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		r.say("warning: the user %q is on every Redis pod, but recording them in ConfigMap %s/%s failed (%v): doctor cannot tell a pod that joins later; run bootstrap again once that works",
			t.User, ns, want.Name, r.c.Explain(err, op))
		return
	}
	r.say("recorded the Redis pods that have the user %q in ConfigMap %s/%s (doctor compares the cluster's pods with it)", t.User, ns, want.Name)
}
