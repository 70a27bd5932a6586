package harbor

import (
	"slices"
	"strings"
	"testing"
)

const configMapStream = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      initContainers:
        - name: init
          envFrom: [{configMapRef: {name: init-env}}]
      containers:
        - name: core
          envFrom: [{configMapRef: {name: myharbor-core}}, {secretRef: {name: not-a-configmap}}]
          env:
            - {name: A, valueFrom: {configMapKeyRef: {name: keyed, key: a}}}
            - {name: B, valueFrom: {configMapKeyRef: {name: myharbor-core, key: b}}}
      volumes:
        - {name: config, configMap: {name: mounted}}
        - {name: both, projected: {sources: [{configMap: {name: projected}}, {secret: {name: s}}]}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-core, namespace: harbor}
data: {EXT_ENDPOINT: "https://harbor.example.com"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hooked, namespace: harbor, annotations: {helm.sh/hook: pre-install}}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: broken, namespace: harbor}
data: {a: [not, a, string]}
`

func TestConfigMapNamesAndSources(t *testing.T) {
	rel := readStream(t, configMapStream)
	w := rel.Workload("core")
	want := []string{"init-env", "myharbor-core", "keyed", "mounted", "projected"}
	if got := w.ConfigMapNames(); !slices.Equal(got, want) {
		t.Errorf("ConfigMapNames = %q, want %q (each once, in the order the pod reads them)", got, want)
	}
	if w.Release() != "myharbor" {
		t.Errorf("Release = %q", w.Release())
	}

	cases := []struct {
		ns, name string
		found    bool
		err      string
	}{
		{"harbor", "myharbor-core", true, ""},
		{"other", "myharbor-core", false, ""},
		{"harbor", "hooked", true, ""}, // a hook may be what reads it
		{"harbor", "missing", false, ""},
		{"harbor", "broken", false, "document 4 (ConfigMap/harbor/broken)"},
	}
	for _, c := range cases {
		src, err := rel.Sources().Lookup("ConfigMap", c.ns, c.name)
		if (err != nil) != (c.err != "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s/%s: error %v, want one naming %q", c.ns, c.name, err, c.err)
		}
		if (src != nil) != c.found || (src != nil && src.Name() != c.name) {
			t.Errorf("%s/%s: found %v, want %v", c.ns, c.name, src != nil, c.found)
		}
		if got := rel.Sources().Get("ConfigMap", c.ns, c.name); got != src {
			t.Errorf("%s/%s: Get and Lookup disagree", c.ns, c.name)
		}
	}
	if src := rel.Sources().Get("ConfigMap", "harbor", "myharbor-core"); src.Data["EXT_ENDPOINT"] != "https://harbor.example.com" {
		t.Errorf("decoded data %v", src.Data)
	}
}
