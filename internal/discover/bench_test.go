package discover_test

import (
	"context"
	"testing"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkDiscover runs discovery against the real API server and reports
// the requests it makes per run. Target: at most 6 requests and under
// 150 ms on loopback, flat as the namespace grows.
//
//	go test -run '^$' -bench Discover -count 5 ./internal/discover
func BenchmarkDiscover(b *testing.B) {
	env := kubetest.Start(b)
	for _, bc := range []struct {
		name, crd, fixture string
		unrelated          int  // Services and as many Secrets
		node               bool // also a node address, as values needs
	}{
		{"kb=1.0/unrelated=0", "1.0.1", "kb-1.0-pg-redis.yaml", 0, false},
		{"kb=1.0/unrelated=4000", "1.0.1", "kb-1.0-pg-redis.yaml", 2000, false},
		{"kb=0.9/unrelated=0", "0.9.5", "kb-0.9-pg-redis.yaml", 0, false}, // v1 is not served: one more request
		{"kb=0.8/unrelated=4000", "0.8.4", "kb-0.8-pg-redis.yaml", 2000, false},
		{"kb=0.8/unrelated=4000/values", "0.8.4", "kb-0.8-pg-redis.yaml", 2000, true}, // the worst case: 6
	} {
		b.Run(bc.name, func(b *testing.B) {
			env.UseKubeBlocks(b, bc.crd)
			env.EnsureNode(b, "node-a", nodeIP)
			ns := benchNamespace(b, env, bc.name, bc.fixture, bc.unrelated)
			var counter kubetest.RequestCounter
			c := connect(b, env, &counter)
			ctx := context.Background()
			for b.Loop() {
				if _, err := discover.Discover(ctx, c, discover.Query{Namespace: ns, NodeAddress: bc.node}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(counter.Count())/float64(b.N), "requests/op")
		})
	}
}

// benchNS keeps each case's namespace across -count runs: creating 4,000
// objects takes longer than the measurement.
var benchNS = map[string]string{}

func benchNamespace(b *testing.B, env *kubetest.Env, name, fixture string, n int) string {
	objs := kubetest.Fixture(b, fixture)
	ns, ok := benchNS[name]
	if !ok {
		ns = env.Namespace(b, "bench")
		env.Create(b, ns, objs...)
		if err := env.CreateObjects(context.Background(), ns, unrelated(n)...); err != nil {
			b.Fatal(err)
		}
		benchNS[name] = ns
		return ns
	}
	// Swapping the CRD version (another case) deleted the Clusters.
	for _, o := range objs {
		if o.GetKind() != "Cluster" {
			continue
		}
		_, err := env.Dynamic.Resource(discover.ClusterResource(o.GroupVersionKind().Version)).Namespace(ns).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			env.Create(b, ns, o)
		} else if err != nil {
			b.Fatal(err)
		}
	}
	return ns
}
