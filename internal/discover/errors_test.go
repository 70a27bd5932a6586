package discover

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/harborha/helm-harborha/internal/testutil"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Every error is one line that names the object or flag and what to do.
func TestDiscoverErrors(t *testing.T) {
	forbidden := func(res string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: res}, "", errors.New(`User "harbor-admin" cannot list resource "`+res+`" in API group "" in the namespace "harbor"`))
	}
	refused := &url.Error{Op: "Get", URL: "https://fake:6443/apis", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name   string
		file   string
		served []string
		edit   func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured
		fail   map[string]error
		opts   Query
		want   []string
	}{
		{name: "KubeBlocks CRD not installed", file: "kb-1.0-pg-redis.yaml", served: nil,
			want: []string{"KubeBlocks is not installed on https://fake:6443 (context \"fake\")", "neither v1 nor v1alpha1", "install KubeBlocks"}},
		{name: "API server unreachable", file: "kb-1.0-pg-redis.yaml", fail: map[string]error{"list clusters": refused},
			want: []string{"cannot reach the Kubernetes API server https://fake:6443 (context \"fake\"): connection refused"}},
		{name: "forbidden to list clusters", file: "kb-1.0-pg-redis.yaml", fail: map[string]error{"list clusters": apierrors.NewForbidden(schema.GroupResource{Group: ClusterGroup, Resource: "clusters"}, "", errors.New("no"))},
			want: []string{`RBAC must allow verb "list" on resource "clusters" (API group "apps.kubeblocks.io") in namespace "harbor"`}},
		{name: "forbidden to read secrets", file: "kb-1.0-pg-redis.yaml", fail: map[string]error{"list secrets": forbidden("secrets")},
			want: []string{`forbidden: user "harbor-admin" may not list secrets in namespace "harbor"`, `RBAC must allow verb "list" on resource "secrets"`}},
		{name: "forbidden to list pods", file: "kb-1.0-pg-redis.yaml", fail: map[string]error{"list pods": forbidden("pods")},
			want: []string{`RBAC must allow verb "list" on resource "pods"`}},
		{name: "forbidden to list nodes asks for --external-url", file: "kb-1.0-pg-redis.yaml", fail: map[string]error{"list nodes": apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))}, opts: Query{NodeAddress: true},
			want: []string{"cannot find a node address for externalURL", `verb "list" on resource "nodes"`, "cluster-wide", "pass --external-url"}},
		{name: "no nodes with an address", file: "kb-1.0-pg-redis.yaml", opts: Query{NodeAddress: true},
			want: []string{"no node of https://fake:6443", "pass --external-url"}},
		{name: "named cluster not found lists what exists", file: "kb-1.0-pg-redis.yaml", opts: Query{PG: "nope"},
			want: []string{`PostgreSQL cluster "nope" not found in namespace "harbor"`, "clusters there: mypg (postgresql), myredis (redis)", "--pg-namespace"}},
		{name: "named cluster of the wrong engine", file: "kb-1.0-pg-redis.yaml", opts: Query{PG: "myredis"},
			want: []string{"cluster harbor/myredis is a Redis cluster, not PostgreSQL"}},
		{name: "empty namespace", file: "kb-1.0-pg-redis.yaml", opts: Query{Namespace: "elsewhere"},
			want: []string{`no KubeBlocks PostgreSQL cluster in namespace "elsewhere" (it has no KubeBlocks clusters)`, "--pg-namespace"}},
		{name: "ambiguous choice", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				return append(objs, renamedCluster(t, objs, "myredis", "cache"))
			},
			want: []string{`2 Redis clusters in namespace "harbor": cache, myredis; choose one with --redis NAME`}},
		{name: "sharded Redis Cluster refused", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				edit(t, objs, "Cluster", "myredis", func(o *unstructured.Unstructured) {
					set(t, o, "cluster", "spec", "topology")
					set(t, o, []any{map[string]any{"name": "shard", "shardingDef": "redis-cluster", "shards": int64(3)}}, "spec", "shardings")
					unstructured.RemoveNestedField(o.Object, "spec", "componentSpecs")
				})
				return objs
			},
			want: []string{"Redis cluster harbor/myredis is a sharded Redis Cluster", "Harbor cannot use Redis Cluster"}},
		{name: "a sharded Redis next to another is not chosen, and a name still refuses it", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				sharded := renamedCluster(t, objs, "myredis", "shards")
				set(t, sharded, "cluster", "spec", "topology")
				return append(objs, sharded)
			},
			opts: Query{Redis: "shards"},
			want: []string{"Redis cluster harbor/shards is a sharded Redis Cluster"}},
		{name: "0.8 sharded Redis without a ClusterDefinition", file: "kb-0.8-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				edit(t, objs, "Cluster", "myredis", func(o *unstructured.Unstructured) {
					o.SetLabels(nil)
					unstructured.RemoveNestedField(o.Object, "spec", "clusterDefinitionRef")
					unstructured.RemoveNestedField(o.Object, "spec", "componentSpecs")
					set(t, o, []any{map[string]any{"name": "shard", "shards": int64(3), "template": map[string]any{"name": "redis", "componentDef": "redis-cluster-7"}}}, "spec", "shardingSpecs")
				})
				return objs
			},
			want: []string{"is a sharded Redis Cluster"}},
		{name: "credential secret missing", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				return drop(objs, "Secret", "mypg-postgresql-account-postgres")
			},
			want: []string{"PostgreSQL cluster harbor/mypg: credential secret missing: expected mypg-conn-credential", "or mypg-postgresql-account-postgres"}},
		{name: "legacy credential secret missing", file: "kb-0.8-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				return drop(objs, "Secret", "myredis-conn-credential")
			},
			want: []string{"Redis cluster harbor/myredis: credential secret missing: expected myredis-conn-credential"}},
		{name: "secret without a password", file: "kb-0.8-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				edit(t, objs, "Secret", "mypg-conn-credential", func(o *unstructured.Unstructured) {
					unstructured.RemoveNestedField(o.Object, "data", "password")
				})
				return objs
			},
			want: []string{"secret harbor/mypg-conn-credential has no (or an empty) password"}},
		{name: "no service selecting the primary", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
				edit(t, objs, "Service", "mypg-postgresql-postgresql", func(o *unstructured.Unstructured) {
					unstructured.RemoveNestedField(o.Object, "spec", "selector", "kubeblocks.io/role")
				})
				return objs
			},
			want: []string{"component postgresql has no usable service", "found: mypg-postgresql-postgresql (does not select the primary)"}},
		{name: "bad --address", file: "kb-1.0-pg-redis.yaml", opts: Query{Address: "pod"},
			want: []string{`--address "pod": use "clusterip" or "dns"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := fixture(t, tt.file)
			if tt.edit != nil {
				objs = tt.edit(t, objs)
			}
			served := tt.served
			if served == nil && !strings.Contains(tt.name, "not installed") {
				served = servedBy[tt.file[3:6]]
			}
			c, _ := (&world{objs: objs, served: served, fail: tt.fail}).client(t)
			_, err := Discover(context.Background(), c, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			testutil.OneLineWith(t, err.Error(), tt.want...)
		})
	}
}
