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
	s := sources{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for i := range in.ConfigMaps {
		s.configMaps[in.ConfigMaps[i].Name] = &in.ConfigMaps[i]
	}
	for i := range in.Secrets {
		s.secrets[in.Secrets[i].Name] = &in.Secrets[i]
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

type sources struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

// environment is makeEnvironmentVariables without the pod, the service
// links and the (alpha) file sources.
func (s sources) environment(c *corev1.Container) (map[string]string, error) {
	tmpEnv := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := s.configMaps[from.ConfigMapRef.Name]
			if !ok {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				tmpEnv[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			sec, ok := s.secrets[from.SecretRef.Name]
			if !ok {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for k, v := range sec.Data {
				tmpEnv[from.Prefix+k] = string(v)
			}
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
		cm, ok := s.configMaps[ref.Name]
		if !ok {
			return "", optional(ref.Optional), missing(ref.Optional, "configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return "", optional(ref.Optional), missing(ref.Optional, "couldn't find key %s in ConfigMap %s", ref.Key, ref.Name)
		}
		return v, false, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		sec, ok := s.secrets[ref.Name]
		if !ok {
			return "", optional(ref.Optional), missing(ref.Optional, "secret %q not found", ref.Name)
		}
		v, ok := sec.Data[ref.Key]
		if !ok {
			return "", optional(ref.Optional), missing(ref.Optional, "couldn't find key %s in Secret %s", ref.Key, ref.Name)
		}
		return string(v), false, nil
	}
	return "", false, nil
}

func optional(p *bool) bool { return p != nil && *p }

// missing is the kubelet's error for a required source, nil for an
// optional one.
func missing(opt *bool, format string, args ...any) error {
	if optional(opt) {
		return nil
	}
	return fmt.Errorf(format, args...)
}
