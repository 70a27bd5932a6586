package export

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Flux's API versions (helm.toolkit.fluxcd.io/v2 and
// source.toolkit.fluxcd.io/v1, served by Flux 2.3 and later).
const (
	fluxHelmAPI   = "helm.toolkit.fluxcd.io/v2"
	fluxSourceAPI = "source.toolkit.fluxcd.io/v1"
)

// fluxBootstrapSource is the GitRepository `flux bootstrap` creates: a
// local chart is read from it, by its path in the repository.
const fluxBootstrapSource = "flux-system"

// Files of the flux format.
const (
	fluxReleaseFile = "helmrelease.yaml"
	fluxObjectsFile = "harborha-objects.yaml"
)

const fluxHeader = `# The HA changes of helm-harborha for Harbor release %s, for Flux: the HelmRelease's
# postRenderers carry the patches; the objects Flux's post-renderers cannot add are in
# ` + fluxObjectsFile + `, applied beside it by the Flux Kustomization of this directory.
# Written by helm harborha export; write it again rather than editing it.
`

// fluxPatch is one entry of spec.postRenderers[].kustomize.patches.
type fluxPatch struct {
	Target Target `json:"target"`
	Patch  string `json:"patch"`
}

// writeFlux writes the HelmRelease (and its HelmRepository), the added
// objects, and a kustomization.yaml listing them, so that a Flux
// Kustomization of the directory applies exactly these files (a local
// chart's templates under charts/ are not manifests).
func writeFlux(stage string, r *helmexec.Release, ch *chartRef, vs *valuesSet, b *bundle, outputDir string) error {
	var docs []any
	chartSpec, repoObj, err := fluxChart(r, ch, outputDir)
	if err != nil {
		return err
	}
	if repoObj != nil {
		docs = append(docs, repoObj)
	}
	hr, err := helmRelease(r, chartSpec, vs, b)
	if err != nil {
		return err
	}
	docs = append(docs, hr)
	files := map[string][]byte{}
	if files[fluxReleaseFile], err = stream(fmt.Sprintf(fluxHeader, r.Name), docs); err != nil {
		return err
	}
	resources := []any{fluxReleaseFile}
	if len(b.Added) > 0 {
		var objs []any
		for _, a := range b.Added {
			objs = append(objs, a.Obj)
		}
		if files[fluxObjectsFile], err = stream("# Objects helm-harborha adds to the Harbor release, which Flux post-renderers cannot add.\n", objs); err != nil {
			return err
		}
		resources = append(resources, fluxObjectsFile)
	}
	k := map[string]any{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
	if files["kustomization.yaml"], err = yaml.Marshal(k); err != nil {
		return err
	}
	return writeFiles(stage, files)
}

// helmRelease is the HelmRelease: the chart, the merged values (Helm's
// merge of the export's values files, which hold no password), and our
// patches as its kustomize post-renderer (they reference the Redis
// password's Secret).
func helmRelease(r *helmexec.Release, chartSpec map[string]any, vs *valuesSet, b *bundle) (map[string]any, error) {
	var patches []any
	for _, p := range b.Patches {
		y, err := p.YAML()
		if err != nil {
			return nil, err
		}
		patches = append(patches, fluxPatch{Target: p.Target, Patch: string(y)})
	}
	spec := map[string]any{
		"interval":    "10m",
		"releaseName": r.Name,
		"chart":       map[string]any{"spec": chartSpec},
	}
	if len(vs.Merged) > 0 {
		spec["values"] = vs.Merged
	}
	if len(patches) > 0 {
		spec["postRenderers"] = []any{map[string]any{"kustomize": map[string]any{"patches": patches}}}
	}
	if r.NoHooks {
		spec["install"] = map[string]any{"disableHooks": true}
		spec["upgrade"] = map[string]any{"disableHooks": true}
	}
	return map[string]any{
		"apiVersion": fluxHelmAPI, "kind": "HelmRelease",
		"metadata": map[string]any{"name": r.Name, "namespace": r.Namespace},
		"spec":     spec,
	}, nil
}

// fluxChart is the HelmRelease's chart.spec, and the HelmRepository it
// names (nil for a local chart, read from Flux's own GitRepository).
func fluxChart(r *helmexec.Release, ch *chartRef, outputDir string) (map[string]any, map[string]any, error) {
	if ch.Local() {
		p, err := pathInRepository(outputDir)
		if err != nil {
			return nil, nil, err
		}
		spec := map[string]any{
			"chart":             "./" + filepath.ToSlash(filepath.Join(p, "charts", ch.Name)),
			"reconcileStrategy": "Revision", // a chart in Git changes without a new version
			"sourceRef":         map[string]any{"kind": "GitRepository", "name": fluxBootstrapSource, "namespace": fluxBootstrapSource},
		}
		return spec, nil, nil
	}
	name := repoObjectName(r, ch)
	repoSpec := map[string]any{"interval": "1h", "url": ch.Repo}
	if strings.HasPrefix(ch.Repo, "oci://") {
		repoSpec["type"] = "oci"
	}
	repoObj := map[string]any{
		"apiVersion": fluxSourceAPI, "kind": "HelmRepository",
		"metadata": map[string]any{"name": name, "namespace": r.Namespace},
		"spec":     repoSpec,
	}
	spec := map[string]any{
		"chart": ch.Name, "version": ch.Version,
		"sourceRef": map[string]any{"kind": "HelmRepository", "name": name},
	}
	return spec, repoObj, nil
}

// pathInRepository is the output directory relative to the current one,
// which Flux's GitRepository is assumed to be the root of.
func pathInRepository(outputDir string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(outputDir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("--format flux with a local chart: the HelmRelease names the chart by its path in the Git repository Flux syncs; run the export from that repository's root with --output-dir inside it")
	}
	return rel, nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// repoObjectName names the HelmRepository: the repository's name when the
// chart was given as REPO/NAME, else the chart's.
func repoObjectName(r *helmexec.Release, ch *chartRef) string {
	name := ch.Name
	if repoName, _, ok := strings.Cut(r.Chart, "/"); ok && !strings.Contains(r.Chart, "://") && r.Repo == "" {
		name = repoName
	}
	name = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if name == "" {
		name = "harbor"
	}
	return name
}

// stream writes objects as one YAML stream after a comment header.
func stream(header string, objs []any) ([]byte, error) {
	var texts []string
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		texts = append(texts, string(y))
	}
	return append([]byte(header), manifest.Write(texts)...), nil
}
