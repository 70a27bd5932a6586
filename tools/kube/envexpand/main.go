// Command envexpand prints each container's effective environment the way
// the kubelet computes it (k8s.io/kubernetes v1.37.1
// pkg/kubelet/kubelet_pods.go makeEnvironmentVariables): every envFrom
// source first (ConfigMap and Secret keys, with their prefix; a later
// source wins), then env in order, a value expanded with
// expansion.Expand(value, expansion.MappingFuncFor(tmpEnv)) over what is
// defined so far, a valueFrom resolved from the ConfigMaps and Secrets
// given. Service links are left out (they are the same for any two
// renders of a release).
//
// It reads JSON on stdin, {"configMaps": [ConfigMap], "secrets": [Secret],
// "containers": [Container]}, and writes {"containers": [{"name", "env",
// "error"}]}: env is the variables by name; error is what the kubelet
// would fail the container with (CreateContainerConfigError), such as a
// missing Secret key. Downward-API fields come out as "fieldRef:<path>" and
// "resourceFieldRef:<resource>", since there is no pod to read them from.
//
// It lives in the tools module because the expansion package exists only
// in k8s.io/kubernetes, which never enters the project's own go.mod; the
// project's equivalence test (internal/postrender) runs the built binary.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

type input struct {
	ConfigMaps []corev1.ConfigMap `json:"configMaps"`
	Secrets    []corev1.Secret    `json:"secrets"`
	Containers []corev1.Container `json:"containers"`
}

type result struct {
	Name  string            `json:"name"`
	Env   map[string]string `json:"env"`
	Error string            `json:"error,omitempty"`
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "envexpand: reading stdin: %v\n", err)
		os.Exit(2)
	}
	s := sources{}
	for _, cm := range in.ConfigMaps {
		s["ConfigMap/"+cm.Name] = cm.Data
	}
	for _, sec := range in.Secrets {
		data := map[string]string{}
		for k, v := range sec.Data {
			data[k] = string(v)
		}
		s["Secret/"+sec.Name] = data
	}
	out := struct {
		Containers []result `json:"containers"`
	}{Containers: []result{}}
	for i := range in.Containers {
		c := &in.Containers[i]
		env, err := s.environment(c)
		r := result{Name: c.Name, Env: env}
		if err != nil {
			r.Env, r.Error = nil, err.Error()
		}
		out.Containers = append(out.Containers, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "envexpand: %v\n", err)
		os.Exit(2)
	}
}

// sources are the ConfigMaps' and Secrets' data, by "Kind/name".
type sources map[string]map[string]string

// environment is makeEnvironmentVariables without the pod, the service
// links and the (alpha) file sources.
func (s sources) environment(c *corev1.Container) (map[string]string, error) {
	tmpEnv := map[string]string{}
	for _, from := range c.EnvFrom {
		var kind, name string
		var opt bool
		switch {
		case from.ConfigMapRef != nil:
			kind, name, opt = "ConfigMap", from.ConfigMapRef.Name, optional(from.ConfigMapRef.Optional)
		case from.SecretRef != nil:
			kind, name, opt = "Secret", from.SecretRef.Name, optional(from.SecretRef.Optional)
		default:
			continue
		}
		data, ok := s[kind+"/"+name]
		if !ok {
			if opt {
				continue
			}
			return nil, fmt.Errorf("%s %q not found", strings.ToLower(kind), name)
		}
		for k, v := range data {
			tmpEnv[from.Prefix+k] = v
		}
	}
	mapping := expansion.MappingFuncFor(tmpEnv)
	for _, e := range c.Env {
		val := e.Value
		if val != "" {
			val = expansion.Expand(val, mapping)
		} else if e.ValueFrom != nil {
			v, skip, err := s.valueFrom(e.ValueFrom)
			if err != nil {
				return nil, fmt.Errorf("env %s: %v", e.Name, err)
			}
			if skip {
				continue
			}
			val = v
		}
		tmpEnv[e.Name] = val
	}
	return tmpEnv, nil
}

// valueFrom resolves one env source; skip is an optional source that is
// missing (the kubelet then leaves the variable out).
func (s sources) valueFrom(from *corev1.EnvVarSource) (val string, skip bool, err error) {
	switch {
	case from.FieldRef != nil:
		return "fieldRef:" + from.FieldRef.FieldPath, false, nil
	case from.ResourceFieldRef != nil:
		return "resourceFieldRef:" + from.ResourceFieldRef.Resource, false, nil
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		return s.key("ConfigMap", ref.Name, ref.Key, optional(ref.Optional))
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		return s.key("Secret", ref.Name, ref.Key, optional(ref.Optional))
	}
	return "", false, nil
}

// key is one key of a ConfigMap or Secret, as the kubelet reads it: a
// missing object or key fails the container unless the reference is
// optional, which leaves the variable out.
func (s sources) key(kind, name, key string, opt bool) (string, bool, error) {
	data, ok := s[kind+"/"+name]
	if !ok {
		if opt {
			return "", true, nil
		}
		return "", false, fmt.Errorf("%s %q not found", strings.ToLower(kind), name)
	}
	v, ok := data[key]
	if !ok {
		if opt {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in %s %s", key, kind, name)
	}
	return v, false, nil
}

func optional(p *bool) bool { return p != nil && *p }
