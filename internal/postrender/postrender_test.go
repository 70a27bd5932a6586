package postrender

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myharbor-core
  namespace: harbor
  labels: {app: harbor, release: myharbor, component: core}
spec:
  replicas: 1
  selector:
    matchLabels: {app: harbor, release: myharbor, component: core}
  template:
    metadata:
      labels: {app: harbor, release: myharbor, component: core}
    spec:
      containers:
        - name: core
          image: goharbor/harbor-core:v2.15.1
`

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no Kubernetes objects on stdin"},
		{"only separators and comments", "---\n# Source: x\n---\n", "no Kubernetes objects on stdin"},
		{"malformed YAML", "apiVersion: v1\nkind: [\n", "document 1: not valid YAML"},
		{"tab indentation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n", "document 1: not valid YAML"},
		{"scalar document", "just a string\n", "document 1: not valid YAML"},
		{"list document", "- a\n- b\n", "document 1: not valid YAML"},
		{"no apiVersion", "kind: ConfigMap\nmetadata: {name: x}\n", `document 1: not a Kubernetes object: "apiVersion"`},
		{"kind not a string", "apiVersion: v1\nkind: 3\nmetadata: {name: x}\n", `document 1: not a Kubernetes object: "kind"`},
		{"no metadata", "apiVersion: v1\nkind: ConfigMap\n", "document 1: not a Kubernetes object: ConfigMap has no metadata"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n", "document 1: not a Kubernetes object: ConfigMap has no metadata.name"},
		{"label not a string", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {a: 1}}\n", "metadata.labels[a] must be a string"},
		{"second document bad", deployment + "---\napiVersion: v1\n", `document 2: not a Kubernetes object: "kind"`},
		{"duplicate object", deployment + "---\n" + deployment, "document 2 (Deployment/harbor/myharbor-core): same kind, namespace and name as document 1"},
		{"replicas of the wrong type", strings.Replace(deployment, "replicas: 1", "replicas: two", 1), "document 1 (Deployment/harbor/myharbor-core):"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(DefaultKnobs(), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Run(bytes.NewBufferString(tt.in))
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			if out != nil {
				t.Errorf("output on error: %q", out)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(config, []byte("replicas: {min: 3, core: 5}\nantiAffinity: hard\nsubPaths: {registry: images}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o Knobs)
	}{
		{"defaults", nil, func(t *testing.T, o Knobs) {
			if o.Replicas.Min != 2 || o.AntiAffinity != "soft" || o.TopologyKey != "kubernetes.io/hostname" || o.SubPaths["registry"] != "registry" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"minimum and exact counts in one value", []string{"--replicas", "3,core=4,trivy=1"}, func(t *testing.T, o Knobs) {
			if o.Replicas.Min != 3 || o.Replicas.Exact["core"] != 4 || o.Replicas.Exact["trivy"] != 1 {
				t.Errorf("replicas: %+v", o.Replicas)
			}
		}},
		{"repeated --replicas accumulate", []string{"--replicas=core=4", "--replicas", "trivy=1"}, func(t *testing.T, o Knobs) {
			if o.Replicas.Min != 2 || len(o.Replicas.Exact) != 2 {
				t.Errorf("replicas: %+v", o.Replicas)
			}
		}},
		{"config file", []string{"--config", config}, func(t *testing.T, o Knobs) {
			if o.Replicas.Min != 3 || o.Replicas.Exact["core"] != 5 || o.AntiAffinity != "hard" || o.SubPaths["registry"] != "images" || o.SubPaths["jobservice"] != "jobservice" {
				t.Errorf("config: %+v", o)
			}
		}},
		{"flags override the file per key", []string{"--anti-affinity=soft", "--config=" + config, "--replicas=core=2"}, func(t *testing.T, o Knobs) {
			if o.AntiAffinity != "soft" || o.Replicas.Exact["core"] != 2 || o.Replicas.Min != 3 {
				t.Errorf("override: %+v", o)
			}
		}},
		{"autoscale for every Deployment and by component, repeated", []string{"--autoscale", "2:5,core=3:10", "--autoscale=trivy=1:3"}, func(t *testing.T, o Knobs) {
			if a := o.Autoscale; a.All == nil || *a.All != (Range{2, 5}) || a.Exact["core"] != (Range{3, 10}) || a.Exact["trivy"] != (Range{1, 3}) {
				t.Errorf("autoscale: %+v", a)
			}
		}},
		{"autoscale from a config file, as text and as a mapping", []string{"--config", write("as.yaml", "autoscale: {all: \"2:4\", registry: \"2:6\"}\n"), "--autoscale=core=2:3"}, func(t *testing.T, o Knobs) {
			if a := o.Autoscale; a.All == nil || *a.All != (Range{2, 4}) || a.Exact["registry"] != (Range{2, 6}) || a.Exact["core"] != (Range{2, 3}) {
				t.Errorf("autoscale: %+v", a)
			}
		}},
		{"database proxy image from a config file, a flag overriding it", []string{"--config", write("proxy.yaml", "databaseProxyImage: harborha-dbproxy:file\n")}, func(t *testing.T, o Knobs) {
			if o.DatabaseProxyImage != "harborha-dbproxy:file" {
				t.Errorf("databaseProxyImage %q", o.DatabaseProxyImage)
			}
			o2, _, err := parseKnobs([]string{"--config", filepath.Join(dir, "proxy.yaml"), "--database-proxy-image=registry.example.com/harborha-dbproxy:v1"})
			if err != nil || o2.DatabaseProxyImage != "registry.example.com/harborha-dbproxy:v1" {
				t.Errorf("flag over file: %q %v", o2.DatabaseProxyImage, err)
			}
		}},
		{"no database proxy by default", nil, func(t *testing.T, o Knobs) {
			if o.DatabaseProxyImage != "" {
				t.Errorf("databaseProxyImage %q by default", o.DatabaseProxyImage)
			}
		}},
		{"autoscale config as the flag's text", []string{"--config", write("as-text.yaml", "autoscale: \"2:5,core=3:9\"\n")}, func(t *testing.T, o Knobs) {
			if a := o.Autoscale; a.All == nil || *a.All != (Range{2, 5}) || a.Exact["core"] != (Range{3, 9}) {
				t.Errorf("autoscale: %+v", a)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, rest, err := parseKnobs(tt.args)
			if err != nil || len(rest) != 0 {
				t.Fatalf("%v %v", err, rest)
			}
			tt.check(t, o)
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--replicas", "0"}, "--replicas: 0 is out of range"},
		{[]string{"--replicas", "101"}, "--replicas: 101 is out of range"},
		{[]string{"--replicas", "core=0"}, "--replicas: core=0 is out of range"},
		{[]string{"--replicas", "database=2"}, `--replicas: unknown component "database"`},
		{[]string{"--replicas", "two"}, `"two" is not a number`},
		{[]string{"--anti-affinity", "always"}, `--anti-affinity: "always" is not soft, hard or none`},
		{[]string{"--topology-key", "not a key"}, "--topology-key:"},
		{[]string{"--shared-pvc", "Bad_Name"}, "--shared-pvc:"},
		{[]string{"--subpath", "trivy=x"}, `--subpath: "trivy" has no shared volume`},
		{[]string{"--subpath", "registry=/abs"}, "--subpath: registry=\"/abs\" must be a relative path"},
		{[]string{"--subpath", "registry=a/../../b"}, "must be a relative path"},
		{[]string{"--subpath", "registry"}, `"registry" is not component=path`},
		{[]string{"--create-shared-pvc"}, "--create-shared-pvc needs --shared-pvc"},
		{[]string{"--storage-class", "nfs"}, "--storage-class is only used with --create-shared-pvc"},
		{[]string{"--shared-pvc=x", "--create-shared-pvc", "--size", "-1Gi"}, "--size:"},
		{[]string{"--kustomize", "/does/not/exist"}, "--kustomize: /does/not/exist is not a directory"},
		{[]string{"--config", "/does/not/exist.yaml"}, "--config: cannot read /does/not/exist.yaml"},
		{[]string{"--config", write("typo.yaml", "replicaz: 3\n")}, `unknown field "replicaz"`},
		{[]string{"--config", write("badtype.yaml", "replicas: [1]\n")}, "replicas must be a number or a mapping"},
		{[]string{"--config", write("badvalue.yaml", "replicas: {core: 0}\n")}, "--replicas: core=0 is out of range"},
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--autoscale", "core=3"}, `"core=3" is not MIN:MAX or component=MIN:MAX`},
		{[]string{"--autoscale", "core=a:b"}, `"core=a:b" is not MIN:MAX`},
		{[]string{"--autoscale", "database=2:5"}, `--autoscale: unknown component "database"`},
		{[]string{"--autoscale", "core=5:2"}, "--autoscale: core=5:2: MIN is above MAX"},
		{[]string{"--autoscale", "core=0:5"}, "--autoscale: core=0:5: MIN must be 1 or more"},
		{[]string{"--autoscale", "2:101"}, "--autoscale: 2:101: MAX must be 100 or less"},
		{[]string{"--autoscale", "core=3:3"}, "--autoscale: core=3:3 never scales; use --replicas"},
		{[]string{"--autoscale", "core=2:5", "--replicas", "core=3"}, "--autoscale core=2:5 and --replicas core=3 both set core's replicas"},
		{[]string{"--config", write("badautoscale.yaml", "autoscale: [2]\n")}, "autoscale must be"},
		{[]string{"--config", write("badrange.yaml", "autoscale: {core: \"9:2\"}\n")}, "--autoscale: core=9:2: MIN is above MAX"},
		{[]string{"--database-proxy-image", "Harborha-DBProxy:test"}, `--database-proxy-image: "Harborha-DBProxy:test" is not an image reference`},
		{[]string{"--database-proxy-image=harborha dbproxy"}, `--database-proxy-image: "harborha dbproxy" is not an image reference`},
		{[]string{"--database-proxy-image= "}, `--database-proxy-image: " " is not an image reference`},
		{[]string{"--config", write("badimage.yaml", "databaseProxyImage: \"dbproxy:\"\n")}, `--database-proxy-image: "dbproxy:" is not an image reference`},
		{[]string{"--config", write("typoimage.yaml", "databaseProxyImages: x\n")}, "databaseMaxConnections, databaseProxyImage, databasePods)"},
		{[]string{"--database-pods", "pg-postgresql-headless"}, `--database-pods: "pg-postgresql-headless" is not host:port`},
		{[]string{"--database-pods", "pg-postgresql-headless.db.svc:0"}, `--database-pods: "pg-postgresql-headless.db.svc:0" is not host:port`},
		{[]string{"--database-pods", "Pg Headless:5432"}, `--database-pods: "Pg Headless:5432" is not host:port`},
		{[]string{"--config", write("badpods.yaml", "databasePods: \"a:5432,b\"\n")}, `--database-pods: "b" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := parseKnobs(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v: want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestHelm4Annotation: Helm 4 hands post-renderers every document with a
// filename annotation; it survives, and added objects carry their
// workload's so Helm 4 files them beside it.
func TestHelm4Annotation(t *testing.T) {
	in := strings.Replace(deployment, "  labels:", "  annotations:\n    postrenderer.helm.sh/postrender-filename: harbor/templates/core/core-dpl.yaml\n  labels:", 1)
	r, _ := New(DefaultKnobs(), io.Discard)
	out, err := r.Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "postrenderer.helm.sh/postrender-filename: harbor/templates/core/core-dpl.yaml"); n != 2 {
		t.Errorf("annotation on %d documents, want 2 (the Deployment and its PDB):\n%s", n, out)
	}
}

// TestHookPassesThrough: a hook with the same identity as nothing else,
// and odd formatting, comes out byte for byte, in its place.
func TestHookPassesThrough(t *testing.T) {
	hook := "# Source: harbor/templates/migration.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migration-job\n  annotations: {\"helm.sh/hook\": pre-upgrade}\nspec:   {template: {spec: {containers: [{name: m, image: x}], restartPolicy: Never}}}"
	r, _ := New(DefaultKnobs(), io.Discard)
	out, err := r.Run(bytes.NewBufferString("---\n" + hook + "\n---\n" + deployment))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "---\n"+hook+"\n---\n") {
		t.Errorf("hook changed or moved:\n%s", out)
	}
}

func TestSelectorMustMatchPodLabels(t *testing.T) {
	in := strings.Replace(deployment, "    metadata:\n      labels: {app: harbor, release: myharbor, component: core}\n", "    metadata:\n      labels: {app: harbor}\n", 1)
	r, _ := New(DefaultKnobs(), io.Discard)
	_, err := r.Run(bytes.NewBufferString(in))
	if err == nil || !strings.Contains(err.Error(), "document 1 (Deployment/harbor/myharbor-core): spec.selector does not match the pod template's labels") {
		t.Fatalf("error %v", err)
	}
}

// TestAnnotationsLast: kustomize leaves a resource's annotations last in
// metadata (and none when empty); annotationsLast does the same to
// kyaml's output, touching nothing else.
func TestAnnotationsLast(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"moved last", "kind: X\nmetadata:\n  annotations:\n    a: b\n    c: |-\n      x\n      y\n  labels:\n    k: v\n  name: n\nspec: {}\n",
			"kind: X\nmetadata:\n  labels:\n    k: v\n  name: n\n  annotations:\n    a: b\n    c: |-\n      x\n      y\nspec: {}\n"},
		{"empty dropped", "metadata:\n  annotations: {}\n  name: n\n", "metadata:\n  name: n\n"},
		{"already last", "metadata:\n  name: n\n  annotations:\n    a: b\n", "metadata:\n  name: n\n  annotations:\n    a: b\n"},
		{"none", "metadata:\n  name: n\nspec:\n  template:\n    metadata:\n      annotations:\n        a: b\n", "metadata:\n  name: n\nspec:\n  template:\n    metadata:\n      annotations:\n        a: b\n"},
		{"no metadata", "kind: X\n", "kind: X\n"},
	}
	for _, tt := range tests {
		if got := annotationsLast(tt.in); got != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}
}
