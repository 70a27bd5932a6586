package harbor

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Release returns the chart release the workload belongs to (the value of
// its selector's "release" label; for a Target, of its own label).
func (w *Workload) Release() string {
	if w.Deployment == nil && w.StatefulSet == nil {
		return w.Doc.Obj.GetLabels()[LabelRelease]
	}
	return w.Selector()[LabelRelease]
}

// ConfigMapNames are the ConfigMaps the pod template reads, in the order it
// names them (envFrom, env valueFrom, volumes, projected volumes; each name
// once). The chart passes configuration this way: core's EXT_ENDPOINT and
// Redis URLs through envFrom, the registry and jobservice config.yml as
// volumes.
func (w *Workload) ConfigMapNames() []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	spec := w.Template().Spec
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					add(e.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					add(e.ValueFrom.ConfigMapKeyRef.Name)
				}
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			add(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(s.ConfigMap.Name)
				}
			}
		}
	}
	return names
}

// ConfigMap finds the ConfigMap namespace/name among the stream's non-hook
// documents and decodes it; nil when the stream has none. It is separate
// from Read, which does not decode ConfigMaps: a ConfigMap that does not
// decode fails only the callers that look at it.
func ConfigMap(docs []*manifest.Doc, namespace, name string) (*corev1.ConfigMap, *manifest.Doc, error) {
	for _, d := range docs {
		if d.Hook {
			continue
		}
		id := d.ID()
		if id.Group != "" || id.Kind != "ConfigMap" || id.Namespace != namespace || id.Name != name {
			continue
		}
		var cm corev1.ConfigMap
		if err := decode(d, &cm); err != nil {
			return nil, d, err
		}
		return &cm, d, nil
	}
	return nil, nil, nil
}
