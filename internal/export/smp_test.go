package export

import (
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestStrategicMergeReproduces: for changes of the kinds the plan makes,
// and of the kinds it may make next (env rewrites, removed volumes,
// reordered lists), the strategic-merge patch strategicMerge writes, applied
// by kustomize in-process, turns the chart's registry Deployment into
// exactly the changed one, or does not (the export then keeps the plan's
// JSON6902 operations); each case says which it must be.
func TestStrategicMergeReproduces(t *testing.T) {
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	rendered := testutil.HelmTemplate(t, testutil.Chart(t, "harbor-1.19.1.tgz"), []string{values}, "--kube-version", testutil.KubeVersion)
	id := manifest.ID{Group: "apps", Kind: "Deployment", Namespace: "harbor", Name: "myharbor-registry"}
	objs := testutil.Objects(t, rendered)
	cases := []struct {
		name   string
		change func(pod map[string]any)
		smp    bool // a strategic merge reproduces it
	}{
		{"subPath on the second container's first mount", func(pod map[string]any) {
			mount(pod, 1, 0)["subPath"] = "registry"
		}, true},
		{"env valueFrom replaced by a value", func(pod map[string]any) {
			e := container(pod, 1)["env"].([]any)[1].(map[string]any)
			delete(e, "valueFrom")
			e["value"] = "literal"
		}, true},
		{"env vars added first: a secretKeyRef and a URL that uses it", func(pod map[string]any) {
			c := container(pod, 1)
			c["env"] = append([]any{
				map[string]any{"name": "REDIS_PASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "myharbor-harborha-redis", "key": "REDIS_PASSWORD"}}},
				map[string]any{"name": "REDIS_URL", "value": "redis://:$(REDIS_PASSWORD)@redis:6379/2"},
			}, c["env"].([]any)...)
		}, true},
		{"env var added last (kyaml puts new items first: every item named)", func(pod map[string]any) {
			c := container(pod, 1)
			c["env"] = append(c["env"].([]any), map[string]any{"name": "EXTRA", "value": "1"})
		}, true},
		{"volume removed, with its mounts", func(pod map[string]any) {
			pod["volumes"] = pod["volumes"].([]any)[1:]
			for i := range pod["containers"].([]any) {
				c := container(pod, i)
				var kept []any
				for _, m := range c["volumeMounts"].([]any) {
					if m.(map[string]any)["name"] != "registry-htpasswd" {
						kept = append(kept, m)
					}
				}
				c["volumeMounts"] = kept
			}
		}, true},
		{"two env vars of one name: a list merged by name cannot say it", func(pod map[string]any) {
			c := container(pod, 1)
			c["env"] = append(c["env"].([]any), map[string]any{"name": "CORE_SECRET", "value": "again"})
		}, false},
		{"containers reordered", func(pod map[string]any) {
			cs := pod["containers"].([]any)
			pod["containers"] = []any{cs[1], cs[0]}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := (&unstructured.Unstructured{Object: objs[id]}).DeepCopy().Object
			c.change(want["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any))
			checkReproduces(t, rendered, "apps/v1", id, want, c.smp)
		})
	}
}

// TestStrategicMergeReproducesSources: the credential rewrite (issue 11)
// patches the chart's ConfigMaps and Secrets too; a strategic merge of
// their data reproduces each kind of change it makes.
func TestStrategicMergeReproducesSources(t *testing.T) {
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	rendered := testutil.HelmTemplate(t, testutil.Chart(t, "harbor-1.19.1.tgz"), []string{values}, "--kube-version", testutil.KubeVersion)
	objs := testutil.Objects(t, rendered)
	source := func(kind, name string) manifest.ID { return manifest.ID{Kind: kind, Namespace: "harbor", Name: name} }
	cases := []struct {
		name   string
		id     manifest.ID
		change func(data map[string]any)
	}{
		{"a ConfigMap's URL without its password", source("ConfigMap", "myharbor-core"), func(data map[string]any) {
			data["_REDIS_URL_CORE"] = "redis://default@10.96.0.11:6379/0?idle_timeout_seconds=30"
		}},
		{"a Secret's password key removed", source("Secret", "myharbor-registry"), func(data map[string]any) {
			delete(data, "REGISTRY_REDIS_PASSWORD")
		}},
		{"a Secret's URL rewritten (base64)", source("Secret", "myharbor-trivy"), func(data map[string]any) {
			data["redisURL"] = "cmVkaXM6Ly8xMC45Ni4wLjExOjYzNzkvNQ=="
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if objs[c.id] == nil {
				t.Fatalf("the chart renders no %s", c.id)
			}
			want := (&unstructured.Unstructured{Object: objs[c.id]}).DeepCopy().Object
			c.change(want["data"].(map[string]any))
			checkReproduces(t, rendered, "v1", c.id, want, true)
		})
	}
}

// checkReproduces applies strategicMerge's patch from the rendered object
// to want with kustomize in-process, selected by exact name, and fails
// unless that gives want exactly (smp) or does not (!smp).
func checkReproduces(t *testing.T, rendered []byte, apiVersion string, id manifest.ID, want map[string]any, smp bool) {
	t.Helper()
	orig := testutil.Objects(t, rendered)[id]
	patch := strategicMerge(apiVersion, id.Kind, orig, want)
	patch["apiVersion"], patch["kind"], patch["metadata"] = apiVersion, id.Kind, map[string]any{"name": id.Name}
	b := &bundle{Patches: []filePatch{{File: "p.yaml", Target: Target{Group: id.Group, Version: versionOf(apiVersion), Kind: id.Kind, Name: id.Name}, Body: patch}}}
	got, err := b.apply(rendered)
	if err != nil {
		t.Fatal(err)
	}
	if same := reflect.DeepEqual(Canonical(got[id]), Canonical(want)); same != smp {
		y, _ := yaml.Marshal(patch)
		t.Errorf("strategic merge reproduces the change: %v, want %v; the patch:\n%s", same, smp, y)
	}
}

func container(pod map[string]any, i int) map[string]any {
	return pod["containers"].([]any)[i].(map[string]any)
}

func mount(pod map[string]any, c, m int) map[string]any {
	return container(pod, c)["volumeMounts"].([]any)[m].(map[string]any)
}
