package harbor

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// pods are the rendered release's containers (Deployments and StatefulSets) with their effective
// environment (the kubelet's expansion, by envexpand) and the ConfigMaps
// and Secrets their files come from.
type pods struct {
	containers map[string]*container // "deployment/container"
	configMaps map[string]corev1.ConfigMap
	secrets    map[string]corev1.Secret
}

type container struct {
	pods    *pods
	spec    corev1.Container
	volumes []corev1.Volume
	env     map[string]string
}

func readPods(t *testing.T, stream []byte, envexpand string) *pods {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	p := &pods{containers: map[string]*container{}, configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	var in struct {
		ConfigMaps []corev1.ConfigMap `json:"configMaps"`
		Secrets    []corev1.Secret    `json:"secrets"`
		Containers []corev1.Container `json:"containers"`
	}
	var keys []string
	for _, d := range docs {
		convert := func(into any) {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Obj.Object, into); err != nil {
				t.Fatalf("%s: %v", d.Describe(), err)
			}
		}
		switch d.ID().Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			convert(&cm)
			p.configMaps[cm.Name] = cm
			in.ConfigMaps = append(in.ConfigMaps, cm)
		case "Secret":
			var s corev1.Secret
			convert(&s)
			p.secrets[s.Name] = s
			in.Secrets = append(in.Secrets, s)
		case "Deployment", "StatefulSet":
			var pod corev1.PodSpec
			if d.ID().Kind == "Deployment" {
				var w appsv1.Deployment
				convert(&w)
				pod = w.Spec.Template.Spec
			} else {
				var w appsv1.StatefulSet
				convert(&w)
				pod = w.Spec.Template.Spec
			}
			for _, c := range pod.Containers {
				key := d.Obj.GetName() + "/" + c.Name
				p.containers[key] = &container{pods: p, spec: c, volumes: pod.Volumes}
				keys = append(keys, key)
				in.Containers = append(in.Containers, c)
			}
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Containers []struct {
			Env   map[string]string
			Error string
		}
	}
	if err := json.Unmarshal(testutil.Run(t, b, envexpand), &out); err != nil {
		t.Fatal(err)
	}
	for i, key := range keys {
		if out.Containers[i].Error != "" {
			t.Fatalf("container %s would not start: %s", key, out.Containers[i].Error)
		}
		p.containers[key].env = out.Containers[i].Env
	}
	return p
}

func (p *pods) container(t *testing.T, workload, name string) *container {
	t.Helper()
	c := p.containers[workload+"/"+name]
	if c == nil {
		t.Fatalf("the render has no container %s in workload %s", name, workload)
	}
	return c
}

// file is the content the kubelet would mount at path: a ConfigMap or
// Secret volume, one key by subPath (or by items).
func (c *container) file(t *testing.T, path string) []byte {
	t.Helper()
	for _, m := range c.spec.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range c.volumes {
			if v.Name != m.Name {
				continue
			}
			var data map[string][]byte
			var items []corev1.KeyToPath
			switch {
			case v.ConfigMap != nil:
				data = map[string][]byte{}
				for k, s := range c.pods.configMaps[v.ConfigMap.Name].Data {
					data[k] = []byte(s)
				}
				items = v.ConfigMap.Items
			case v.Secret != nil:
				data = c.pods.secrets[v.Secret.SecretName].Data
				items = v.Secret.Items
			}
			key := m.SubPath
			for _, it := range items {
				if it.Path == m.SubPath {
					key = it.Key
				}
			}
			if b, ok := data[key]; ok {
				return b
			}
			t.Fatalf("volume %s mounted at %s: no key %q", v.Name, path, key)
		}
	}
	t.Fatalf("container %s mounts nothing at %s", c.spec.Name, path)
	return nil
}

// with is the container's environment with the addresses rewritten and
// the overrides set, as a process environment.
func (c *container) with(addresses *strings.Replacer, overrides map[string]string) []string {
	env := []string{}
	for k, v := range c.env {
		if o, ok := overrides[k]; ok {
			v = o
		}
		env = append(env, k+"="+addresses.Replace(v))
	}
	for k, v := range overrides {
		if _, ok := c.env[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
