package bootstrap

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/testutil"
	"github.com/harborha/helm-harborha/internal/values"
)

// The overlay `values` writes from discovery, with bootstrap's settings
// applied, rendered by the real goharbor chart: Harbor connects as the
// dedicated role to the chosen database with the password from the
// generated Secret, and to Redis as the dedicated user.
func TestOverlayAfterBootstrapRendersWithTheRealChart(t *testing.T) {
	t.Parallel()
	found := &discover.Result{
		PostgreSQL: &discover.Endpoint{Cluster: "mypg", Namespace: "harbor", Engine: discover.PostgreSQL, Service: "mypg-postgresql-postgresql",
			Host: "10.96.0.10", Port: 5432, Secret: "mypg-postgresql-account-postgres", Username: "postgres", Password: discover.NewPassword("SuperuserPassword1")},
		Redis: &discover.Endpoint{Cluster: "myredis", Namespace: "harbor", Engine: discover.Redis, Service: "myredis-redis-redis",
			Host: "10.96.0.11", Port: 6379, Secret: "myredis-redis-account-default", Username: "default", Password: discover.NewPassword("SuperuserRedis1")},
	}
	o := values.Defaults()
	o.HarborNamespace, o.ExternalURL, o.Database, o.Now = "harbor", "http://harbor.example.com:30002", "harbor_registry", time.Unix(0, 0)
	ov, err := values.Build(found, o)
	if err != nil {
		t.Fatal(err)
	}
	res := Result{Namespace: "harbor",
		Database: &DatabaseResult{Role: "harbor", Database: "harbor_registry", Secret: "myharbor-harborha-db"},
		Redis:    &RedisResult{User: "harbor", Secret: "myharbor-harborha-redis"}}
	settings, err := res.Settings(o.Chart.RedisUsername)
	if err != nil {
		t.Fatal(err)
	}
	if err := ov.Set(settings); err != nil {
		t.Fatal(err)
	}
	out, err := ov.YAML()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "overlay.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	ref, err := res.RedisRef(found, "harbor", o.Chart)
	if err != nil {
		t.Fatal(err)
	}
	knobs := postrender.DefaultKnobs()
	knobs.RedisPasswordSecret, knobs.RedisUsername = ref.Secret+":"+ref.Key, ref.Username
	r, err := postrender.New(knobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	manifests, err := r.Run(bytes.NewBuffer(testutil.HelmTemplate(t, testutil.Chart(t, "harbor-1.19.1.tgz"), []string{file})))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.Decode(manifests.Bytes())
	if err != nil {
		t.Fatal(err)
	}

	core := find(t, objs, "ConfigMap", "myharbor-core")
	for key, want := range map[string]string{"POSTGRESQL_USERNAME": "harbor", "POSTGRESQL_DATABASE": "harbor_registry", "POSTGRESQL_HOST": "10.96.0.10"} {
		if got, _, _ := unstructured.NestedString(core.Object, "data", key); got != want {
			t.Errorf("core ConfigMap %s = %q, want %q", key, got, want)
		}
	}
	// Core logs in to Redis as the dedicated user, with the password of its
	// Secret by reference.
	env := map[string]any{}
	containers, _, _ := unstructured.NestedSlice(find(t, objs, "Deployment", "myharbor-core").Object, "spec", "template", "spec", "containers")
	envs, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	for _, e := range envs {
		em := e.(map[string]any)
		env[em["name"].(string)] = em
	}
	if u, err := url.Parse(strings.ReplaceAll(fmt.Sprint(env["_REDIS_URL_CORE"].(map[string]any)["value"]), "$(HARBORHA_REDIS_PASSWORD)", "P")); err != nil || u.User.String() != "harbor:P" {
		t.Errorf("core's Redis URL does not log in as the dedicated user with the referenced password: %v", env["_REDIS_URL_CORE"])
	}
	if name, _, _ := unstructured.NestedString(env["HARBORHA_REDIS_PASSWORD"].(map[string]any), "valueFrom", "secretKeyRef", "name"); name != "myharbor-harborha-redis" {
		t.Errorf("the password variable reads %q, not bootstrap's Secret", name)
	}
	// Every workload that reads the database password reads it from the
	// generated Secret's key "password"; the superuser's appears nowhere.
	var readers int
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" && o.GetKind() != "Job" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			envs, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
			for _, e := range envs {
				em := e.(map[string]any)
				if em["name"] != "POSTGRESQL_PASSWORD" {
					continue
				}
				readers++
				name, _, _ := unstructured.NestedString(em, "valueFrom", "secretKeyRef", "name")
				key, _, _ := unstructured.NestedString(em, "valueFrom", "secretKeyRef", "key")
				if name != "myharbor-harborha-db" || key != "password" {
					t.Errorf("%s %s reads POSTGRESQL_PASSWORD from %s/%s", o.GetKind(), o.GetName(), name, key)
				}
			}
		}
	}
	if readers == 0 {
		t.Error("no workload reads POSTGRESQL_PASSWORD: the check above proves nothing")
	}
	rendered, _ := yaml.Marshal(objs)
	for _, superuser := range []string{"SuperuserPassword1", "SuperuserRedis1", "mypg-postgresql-account-postgres"} {
		if strings.Contains(string(rendered), superuser) {
			t.Errorf("the rendered chart still holds %q", superuser)
		}
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("%s %s not rendered", kind, name)
	return nil
}
