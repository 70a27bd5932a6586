package export

import (
	"fmt"
	"path/filepath"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/harborha/helm-harborha/internal/helmexec"
)

// helmChart is one entry of a kustomization's helmCharts, the fields of
// kustomize's HelmChartInflationGenerator (api/types/helmchartargs.go)
// that the export sets, in the order a reader wants them.
type helmChart struct {
	Name                  string   `json:"name" yaml:"name"`
	Repo                  string   `json:"repo,omitempty" yaml:"repo,omitempty"`
	Version               string   `json:"version,omitempty" yaml:"version,omitempty"`
	ReleaseName           string   `json:"releaseName" yaml:"releaseName"`
	Namespace             string   `json:"namespace" yaml:"namespace"`
	ValuesFile            string   `json:"valuesFile,omitempty" yaml:"valuesFile,omitempty"`
	AdditionalValuesFiles []string `json:"additionalValuesFiles,omitempty" yaml:"additionalValuesFiles,omitempty"`
	KubeVersion           string   `json:"kubeVersion,omitempty" yaml:"kubeVersion,omitempty"`
	APIVersions           []string `json:"apiVersions,omitempty" yaml:"apiVersions,omitempty"`
	IncludeCRDs           bool     `json:"includeCRDs,omitempty" yaml:"includeCRDs,omitempty"`
	SkipTests             bool     `json:"skipTests,omitempty" yaml:"skipTests,omitempty"`
	SkipHooks             bool     `json:"skipHooks,omitempty" yaml:"skipHooks,omitempty"`
}

// kustomization is the export's kustomization.yaml (written with the yaml
// tags, in the fields' order), and the one bundle.apply checks in memory
// (with the json tags: no helmCharts there).
type kustomization struct {
	APIVersion string           `json:"apiVersion" yaml:"apiVersion"`
	Kind       string           `json:"kind" yaml:"kind"`
	HelmCharts []helmChart      `json:"helmCharts,omitempty" yaml:"helmCharts"`
	Resources  []string         `json:"resources,omitempty" yaml:"resources,omitempty"`
	Patches    []kustomizePatch `json:"patches" yaml:"patches,omitempty"`
}

// kustomizePatch is one entry of a kustomization's patches.
type kustomizePatch struct {
	Path   string `json:"path" yaml:"path"`
	Target Target `json:"target" yaml:"target"`
}

const kustomizeHeader = `# The HA changes of helm-harborha for Harbor release %s, as data: kustomize inflates the
# chart (helmCharts) and applies the patches and resources below, which gives the objects that
# helm harborha template gives. Build: kustomize build --enable-helm DIR
# (Argo CD: kustomize.buildOptions: --enable-helm in argocd-cm). Written by helm harborha export;
# write it again rather than editing it when the chart, the values or the knobs change.
`

// writeKustomize writes kustomization.yaml, the patches and the resources.
func writeKustomize(stage string, r *helmexec.Release, ch *chartRef, vs *valuesSet, b *bundle) error {
	files, k, err := b.files()
	if err != nil {
		return err
	}
	hc := helmChart{
		Name: ch.Name, ReleaseName: r.Name, Namespace: r.Namespace,
		KubeVersion: r.KubeVersion, APIVersions: r.APIVersions,
		IncludeCRDs: r.IncludeCRDs, SkipTests: r.SkipTests, SkipHooks: r.NoHooks,
	}
	if !ch.Local() { // a local chart is found under charts/<name>; the version is the one there
		hc.Repo, hc.Version = ch.Repo, ch.Version
	}
	for i, f := range vs.Files {
		if i == 0 {
			hc.ValuesFile = f.Name
			continue
		}
		hc.AdditionalValuesFiles = append(hc.AdditionalValuesFiles, f.Name)
	}
	k.HelmCharts = []helmChart{hc}
	body, err := kyaml.Marshal(k) // keeps the fields' order, unlike a map
	if err != nil {
		return err
	}
	files["kustomization.yaml"] = append([]byte(fmt.Sprintf(kustomizeHeader, r.Name)), body...)
	return writeFiles(stage, files)
}

// writeFiles writes files (slash paths relative to stage).
func writeFiles(stage string, files map[string][]byte) error {
	for name, data := range files {
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(name)), data); err != nil {
			return err
		}
	}
	return nil
}
