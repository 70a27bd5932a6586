package harbor

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Release returns the chart release the workload belongs to (the value of
// its selector's "release" label).
func (w *Workload) Release() string { return w.Selector()[LabelRelease] }

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
