package bootstrap

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// After the Redis Job, the pods that got the user are recorded in a
// ConfigMap of Harbor's namespace labelled with the release (doctor lists
// the release's ConfigMaps anyway); a later run with another pod updates
// it, the same pods leave it alone, addresses given by hand record nothing,
// and a refused write is a warning: the user is on every node already.
func TestRecordRedisNodes(t *testing.T) {
	pods := func(names ...string) []redisNode {
		var out []redisNode
		for i, n := range names {
			out = append(out, redisNode{pod: n, addr: "10.0.0." + string(rune('1'+i)) + ":6379"})
		}
		return out
	}
	tests := []struct {
		name     string
		existing []string // pods of a record already there
		nodes    []redisNode
		deny     bool
		want     []string // the record's pods after; nil: no record
		verbs    []string // writes sent
		progress string
	}{
		{name: "first run creates it", nodes: pods("myredis-redis-1", "myredis-redis-0"),
			want: []string{"myredis-redis-0", "myredis-redis-1"}, verbs: []string{"create"}, progress: "recorded the Redis pods"},
		{name: "a pod joined: updated", existing: []string{"myredis-redis-0", "myredis-redis-1"}, nodes: pods("myredis-redis-0", "myredis-redis-1", "myredis-redis-2"),
			want: []string{"myredis-redis-0", "myredis-redis-1", "myredis-redis-2"}, verbs: []string{"update"}, progress: "recorded the Redis pods"},
		{name: "same pods: left alone", existing: []string{"myredis-redis-0", "myredis-redis-1"}, nodes: pods("myredis-redis-0", "myredis-redis-1"),
			want: []string{"myredis-redis-0", "myredis-redis-1"}, verbs: nil, progress: "recorded the Redis pods"},
		{name: "addresses given by hand: nothing to record", nodes: []redisNode{{addr: "10.0.0.1:6379"}}, want: nil, verbs: nil},
		{name: "RBAC refuses: a warning", nodes: pods("myredis-redis-0"), deny: true, want: nil, verbs: []string{"create"},
			progress: `warning: the user "harbor" is on every Redis pod, but recording them in ConfigMap harbor/myharbor-harborha-redis-nodes failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.existing != nil {
				objs = append(objs, RedisNodesConfigMap("harbor", "myharbor", RedisNodes{User: "harbor", Namespace: "db", Service: "myredis-redis-redis", Pods: tt.existing}))
			}
			cs := fake.NewClientset(objs...)
			if tt.deny {
				cs.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", nil)
				})
			}
			var progress bytes.Buffer
			o := Spec{Release: "myharbor", Namespace: "harbor", Progress: &progress, Redis: &RedisTarget{
				Endpoint: Endpoint{Namespace: "db", Host: "10.96.0.20", Port: 6379, Secret: SecretRef{Name: "s"}}, User: "harbor", Service: "myredis-redis-redis"}}.withDefaults()
			newRunner(&kube.Client{Typed: cs, Server: "https://kube.invalid", Context: "test"}, o).recordRedisNodes(context.Background(), tt.nodes)

			var verbs []string
			for _, a := range cs.Actions() {
				if a.GetVerb() != "get" {
					verbs = append(verbs, a.GetVerb())
				}
			}
			if strings.Join(verbs, ",") != strings.Join(tt.verbs, ",") {
				t.Errorf("writes %v, want %v", verbs, tt.verbs)
			}
			if !strings.Contains(progress.String(), tt.progress) {
				t.Errorf("progress %q, want %q", progress.String(), tt.progress)
			}
			cm, err := cs.CoreV1().ConfigMaps("harbor").Get(context.Background(), RedisNodesName("myharbor"), metav1.GetOptions{})
			if tt.want == nil {
				if err == nil && tt.existing == nil {
					t.Errorf("a record was written: %v", cm.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ReadRedisNodes(cm)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(rec.Pods, " ") != strings.Join(tt.want, " ") || rec.User != "harbor" || rec.Namespace != "db" || rec.Service != "myredis-redis-redis" {
				t.Errorf("record %+v, want pods %v of user harbor, Service db/myredis-redis-redis", rec, tt.want)
			}
			if cm.Labels[harbor.LabelRelease] != "myharbor" {
				t.Errorf("labels %v: doctor lists the release's ConfigMaps by %s=myharbor", cm.Labels, harbor.LabelRelease)
			}
		})
	}
}

func TestReadRedisNodesRefusesAForeignConfigMap(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "myharbor-harborha-redis-nodes", Namespace: "harbor"}, Data: map[string]string{"user": "harbor"}}
	_, err := ReadRedisNodes(cm)
	if err == nil || err.Error() != "ConfigMap harbor/myharbor-harborha-redis-nodes is not bootstrap's record of the Redis pods (it needs keys user, namespace, service and pods): delete it and run bootstrap again" {
		t.Errorf("error %v", err)
	}
}
