package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/output"
)

// The clusters Harbor cannot use are listed with the reason, not left out
// silently; the choice and its messages stay as they were.
func TestUnusableClustersAreListed(t *testing.T) {
	objs := fixture(t, "kb-1.0-pg-redis.yaml")
	sharded := renamedCluster(t, objs, "myredis", "shards")
	set(t, sharded, "cluster", "spec", "topology")
	creating := renamedCluster(t, objs, "mypg", "newpg")
	set(t, creating, "Creating", "status", "phase")
	healthyOther := renamedCluster(t, objs, "mypg", "otherpg") // usable: not listed
	c, _ := (&world{objs: append(objs, sharded, creating, healthyOther), served: servedBy["1.0"]}).client(t)
	r, err := Discover(context.Background(), c, Query{PG: "mypg"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PostgreSQL.Cluster != "mypg" || r.Redis.Cluster != "myredis" {
		t.Fatalf("chose %s and %s", r.PostgreSQL.Cluster, r.Redis.Cluster)
	}
	want := []Unusable{
		{Cluster: "newpg", Namespace: "harbor", Engine: PostgreSQL, Reason: "phase is Creating, not Running"},
		{Cluster: "shards", Namespace: "harbor", Engine: Redis, Reason: `sharded Redis Cluster (KubeBlocks shardings or topology "cluster"): Harbor cannot use Redis Cluster`},
	}
	if len(r.Unusable) != len(want) {
		t.Fatalf("unusable %+v, want %+v", r.Unusable, want)
	}
	for i := range want {
		if r.Unusable[i] != want[i] {
			t.Errorf("unusable[%d] = %+v, want %+v", i, r.Unusable[i], want[i])
		}
	}
	var text, js bytes.Buffer
	if err := output.Text.Write(&text, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if got := lines[len(lines)-3:]; !strings.HasPrefix(got[0], "NOT USABLE BY HARBOR") || !strings.HasPrefix(got[1], "harbor/newpg ") || !strings.Contains(got[2], "harbor/shards") || !strings.Contains(got[2], "Harbor cannot use Redis Cluster") {
		t.Errorf("text table lacks the unusable clusters:\n%s", text.String())
	}
	if err := output.JSON.Write(&js, r); err != nil {
		t.Fatal(err)
	}
	var back struct{ Unusable []Unusable }
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Unusable) != 2 || back.Unusable[1].Cluster != "shards" {
		t.Errorf("JSON unusable %+v (%v)", back.Unusable, err)
	}
}

// Nothing unusable: the output is what it always was (no extra table,
// no "unusable" key).
func TestNothingUnusableChangesNothing(t *testing.T) {
	c, _ := (&world{objs: fixture(t, "kb-1.0-pg-redis.yaml"), served: servedBy["1.0"]}).client(t)
	r, err := Discover(context.Background(), c, Query{})
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	output.Text.Write(&text, r)
	output.JSON.Write(&js, r)
	if strings.Contains(text.String(), "NOT USABLE") || strings.Contains(js.String(), "unusable") || len(strings.Split(strings.TrimSpace(text.String()), "\n")) != 3 {
		t.Errorf("output changed without unusable clusters:\n%s\n%s", text.String(), js.String())
	}
}

// ListClusters, PrimaryService and Choose read clusters as Discover does.
func TestInspect(t *testing.T) {
	objs := fixture(t, "kb-0.8-pg-redis.yaml")
	c, _ := (&world{objs: objs, served: servedBy["0.8"]}).client(t)
	all, err := ListClusters(context.Background(), c, "harbor")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Discover(context.Background(), c, Query{})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Choose("harbor", all, PostgreSQL)
	if err != nil || pg.Name != r.PostgreSQL.Cluster || pg.Component != r.PostgreSQL.Component || pg.Unusable != "" {
		t.Fatalf("Choose: %+v, %v; Discover chose %s/%s", pg, err, r.PostgreSQL.Cluster, r.PostgreSQL.Component)
	}
	svcs, err := c.Typed.CoreV1().Services("harbor").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, port, err := pg.PrimaryService(svcs.Items)
	if err != nil || svc.Name != r.PostgreSQL.Service || port != r.PostgreSQL.Port {
		t.Errorf("PrimaryService: %v %d %v; Discover: %s %d", svc, port, err, r.PostgreSQL.Service, r.PostgreSQL.Port)
	}
	if _, err := Choose("empty", nil, Redis); err == nil || !strings.Contains(err.Error(), `no KubeBlocks Redis cluster in namespace "empty"`) {
		t.Errorf("Choose in an empty namespace: %v", err)
	}
}
