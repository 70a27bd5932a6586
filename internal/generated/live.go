package generated

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// liveRelease is a running release as its pods see it: each component's
// pod template (from its Deployment), and the Secrets and ConfigMaps they
// read, resolved the way the kubelet resolves them. Adopting a value from
// here keeps whatever the release runs with, whichever chart version,
// fullnameOverride or existingSecret produced it.
type liveRelease struct {
	c          *kube.Client
	ns         string
	pods       map[string]*corev1.PodTemplateSpec // by component
	secrets    map[string]map[string][]byte
	configMaps map[string]map[string]string
}

// readLive lists the release's Deployments (label release=RELEASE, which
// every chart version sets); a release that is not installed has none.
func readLive(ctx context.Context, c *kube.Client, ns, release string) (*liveRelease, error) {
	l := &liveRelease{c: c, ns: ns, pods: map[string]*corev1.PodTemplateSpec{},
		secrets: map[string]map[string][]byte{}, configMaps: map[string]map[string]string{}}
	sel := labels.SelectorFromSet(labels.Set{harbor.LabelRelease: release}).String()
	list, err := c.Typed.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, c.Explain(err, kube.Op{Verb: "list", Resource: "deployments", Group: "apps", Namespace: ns})
	}
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels[harbor.LabelRelease] != release {
			continue
		}
		if comp := d.Spec.Selector.MatchLabels[harbor.LabelComponent]; harbor.IsComponent(comp) {
			l.pods[comp] = &d.Spec.Template
		}
	}
	return l, nil
}

// installed reports whether the release runs Harbor's core.
func (l *liveRelease) installed() bool { return l != nil && l.pods["core"] != nil }

func (l *liveRelease) container(component, name string) *corev1.Container {
	pod := l.pods[component]
	if pod == nil {
		return nil
	}
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		return nil
	}
	return &pod.Spec.Containers[i]
}

// env is the value the container gets for the variable: its env entry
// (a value, or a Secret or ConfigMap key), else the last envFrom source
// that has it. found is false when nothing gives it.
func (l *liveRelease) env(ctx context.Context, component, container, name string) (val string, found bool, err error) {
	c := l.container(component, container)
	if c == nil {
		return "", false, nil
	}
	if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name }); i >= 0 {
		return l.envEntry(ctx, c.Env[i])
	}
	for i := len(c.EnvFrom) - 1; i >= 0; i-- {
		from := c.EnvFrom[i]
		if !strings.HasPrefix(name, from.Prefix) {
			continue
		}
		key := strings.TrimPrefix(name, from.Prefix)
		switch {
		case from.SecretRef != nil:
			data, err := l.secret(ctx, from.SecretRef.Name)
			if v, ok := data[key]; ok || err != nil {
				return string(v), ok, err
			}
		case from.ConfigMapRef != nil:
			data, err := l.configMap(ctx, from.ConfigMapRef.Name)
			if v, ok := data[key]; ok || err != nil {
				return v, ok, err
			}
		}
	}
	return "", false, nil
}

func (l *liveRelease) envEntry(ctx context.Context, e corev1.EnvVar) (string, bool, error) {
	switch {
	case e.ValueFrom == nil:
		return e.Value, true, nil
	case e.ValueFrom.SecretKeyRef != nil:
		data, err := l.secret(ctx, e.ValueFrom.SecretKeyRef.Name)
		v, ok := data[e.ValueFrom.SecretKeyRef.Key]
		return string(v), ok, err
	case e.ValueFrom.ConfigMapKeyRef != nil:
		data, err := l.configMap(ctx, e.ValueFrom.ConfigMapKeyRef.Name)
		v, ok := data[e.ValueFrom.ConfigMapKeyRef.Key]
		return v, ok, err
	}
	return "", false, nil
}

// mountedSecret is the Secret and key behind the file a container mounts
// at mountPath (a secret volume, with its items mapping the subPath).
func (l *liveRelease) mountedSecret(component, container, mountPath string) (secret, key string, ok bool) {
	c := l.container(component, container)
	if c == nil {
		return "", "", false
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == mountPath })
	if i < 0 {
		return "", "", false
	}
	m := c.VolumeMounts[i]
	for _, v := range l.pods[component].Spec.Volumes {
		if v.Name != m.Name || v.Secret == nil {
			continue
		}
		key = m.SubPath
		for _, item := range v.Secret.Items {
			if item.Path == m.SubPath {
				key = item.Key
			}
		}
		return v.Secret.SecretName, key, key != ""
	}
	return "", "", false
}

// mountedFile is the content of the file a container mounts at mountPath
// from a Secret, and that Secret's data; nil when there is none.
func (l *liveRelease) mountedFile(ctx context.Context, component, container, mountPath string) ([]byte, map[string][]byte, error) {
	name, key, ok := l.mountedSecret(component, container, mountPath)
	if !ok {
		return nil, nil, nil
	}
	data, err := l.secret(ctx, name)
	if err != nil || len(data[key]) == 0 {
		return nil, nil, err
	}
	return data[key], data, nil
}

// secret reads a Secret once; a missing one reads as empty.
func (l *liveRelease) secret(ctx context.Context, name string) (map[string][]byte, error) {
	return cached(l.c, l.secrets, kube.Op{Verb: "get", Resource: "secrets", Namespace: l.ns, Name: name}, func() (map[string][]byte, error) {
		s, err := l.c.Typed.CoreV1().Secrets(l.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Data, nil
	})
}

func (l *liveRelease) configMap(ctx context.Context, name string) (map[string]string, error) {
	return cached(l.c, l.configMaps, kube.Op{Verb: "get", Resource: "configmaps", Namespace: l.ns, Name: name}, func() (map[string]string, error) {
		cm, err := l.c.Typed.CoreV1().ConfigMaps(l.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	})
}

// cached reads op.Name once into cache: a missing object reads as nil,
// any other error is explained.
func cached[V any](c *kube.Client, cache map[string]V, op kube.Op, get func() (V, error)) (V, error) {
	if v, ok := cache[op.Name]; ok {
		return v, nil
	}
	v, err := get()
	switch {
	case apierrors.IsNotFound(err):
		var none V
		cache[op.Name] = none
		return none, nil
	case err != nil:
		return v, c.Explain(err, op)
	}
	cache[op.Name] = v
	return v, nil
}
