package export

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	fluxkustomize "github.com/fluxcd/pkg/apis/kustomize"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// fluxOriginLabels are the labels helm-controller's OriginLabels
// post-renderer puts on every object of a release (common_renderer.go).
var fluxOriginLabels = []string{"helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"}

// TestFluxPostRenderEqualsPostRender: on every golden case (but the one
// with --kustomize, which an export refuses), the flux export's HelmRelease
// applied the way helm-controller applies it (the chart rendered with the
// HelmRelease's values, then its kustomize post-renderers), plus the
// manifest of added objects, gives the post-render output, which the real
// API server accepts (server-side dry run, Strict).
func TestFluxPostRenderEqualsPostRender(t *testing.T) {
	helm := testutil.Helm4(t) // helm-controller v1.6.3 renders with the Helm 4 SDK
	for _, c := range testutil.GoldenCases(t, 10) {
		if hasKustomize(c) {
			continue // refused: TestErrors covers it
		}
		t.Run(c.Name, func(t *testing.T) {
			hr, objects := fluxExport(t, helm, c)
			got := fluxApply(t, helm, c, hr)
			sameObjects(t, "Flux", append(got, objects...), golden(t, c))
			dryRunOnServer(t, "Flux", append(got, objects...))
		})
	}
}

func hasKustomize(c testutil.GoldenCase) bool {
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--kustomize=") {
			return true
		}
	}
	return false
}

// fluxExport exports a case with --format flux, from a directory standing
// for the Git repository Flux syncs, and returns the HelmRelease, decoded
// strictly into helm-controller's own API types, and the added objects.
func fluxExport(t testing.TB, helm string, c testutil.GoldenCase) (*helmv2.HelmRelease, []byte) {
	t.Helper()
	dir, _ := exportCase(t, helm, c, FormatFlux)
	return readFlux(t, dir)
}

// readFlux reads a flux export: its HelmRelease, decoded strictly into
// helm-controller's own API types, and the added objects.
func readFlux(t testing.TB, dir string) (*helmv2.HelmRelease, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fluxReleaseFile))
	if err != nil {
		t.Fatal(err)
	}
	var hr *helmv2.HelmRelease
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !strings.Contains(doc, "kind: HelmRelease") {
			continue
		}
		hr = &helmv2.HelmRelease{}
		if err := yaml.UnmarshalStrict([]byte(doc), hr); err != nil {
			t.Fatalf("%s: not a valid HelmRelease of helm-controller's API: %v", fluxReleaseFile, err)
		}
	}
	if hr == nil || hr.APIVersion != helmv2.GroupVersion.String() {
		t.Fatalf("%s holds no %s HelmRelease", fluxReleaseFile, helmv2.GroupVersion)
	}
	objects, err := os.ReadFile(filepath.Join(dir, fluxObjectsFile))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return hr, objects
}

// fluxApply renders the case's chart with the HelmRelease's release name,
// namespace and values, and runs the HelmRelease's post-renderers over the
// whole output (the default postRenderStrategy, combined, hands hooks to
// post-renderers too).
func fluxApply(t testing.TB, helm string, c testutil.GoldenCase, hr *helmv2.HelmRelease) []byte {
	t.Helper()
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	vals := []byte("{}")
	if hr.Spec.Values != nil {
		vals = hr.Spec.Values.Raw
	}
	write(t, valuesFile, vals)
	rendered := testutil.Run(t, nil, helm, "template", hr.Spec.ReleaseName, testutil.Chart(t, c.Chart),
		"--namespace", hr.Namespace, "--kube-version", testutil.KubeVersion, "-f", valuesFile)
	out := rendered
	for _, pr := range hr.Spec.PostRenderers {
		if pr.Kustomize != nil {
			out = helmControllerKustomize(t, out, pr.Kustomize.Patches)
		}
	}
	return withoutOriginLabels(t, out)
}

// helmControllerKustomize is helm-controller's kustomize post-renderer,
// fluxcd/helm-controller v1.6.3 (commit 0f61a8607a62),
// internal/postrender/kustomize.go: a Kustomization with the rendered
// manifests as its one resource (helm-output.yaml) and each patch with
// its target, built by krusty with LoadRestrictionsNone and builtin
// plugins only, and written back with AsYaml. (helm-controller pins
// kustomize api v0.21.1; this module builds with v0.21.2.)
func helmControllerKustomize(t testing.TB, rendered []byte, patches []fluxkustomize.Patch) []byte {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	cfg := kustypes.Kustomization{}
	cfg.APIVersion = kustypes.KustomizationVersion
	cfg.Kind = kustypes.KustomizationKind
	const input = "helm-output.yaml"
	cfg.Resources = append(cfg.Resources, input)
	if err := fs.WriteFile(input, rendered); err != nil {
		t.Fatal(err)
	}
	for _, m := range patches {
		cfg.Patches = append(cfg.Patches, kustypes.Patch{Patch: m.Patch, Target: adaptSelector(m.Target)})
	}
	k, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("kustomization.yaml", k); err != nil {
		t.Fatal(err)
	}
	opts := &krusty.Options{LoadRestrictions: kustypes.LoadRestrictionsNone, PluginConfig: kustypes.DisabledPluginConfig()}
	rm, err := krusty.MakeKustomizer(opts).Run(fs, ".")
	if err != nil {
		t.Fatalf("helm-controller's kustomize post-renderer: %v", err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// adaptSelector is helm-controller's, field for field.
func adaptSelector(s *fluxkustomize.Selector) *kustypes.Selector {
	if s == nil {
		return nil
	}
	out := &kustypes.Selector{}
	out.Gvk.Group, out.Gvk.Kind, out.Gvk.Version = s.Group, s.Kind, s.Version
	out.Name, out.Namespace = s.Name, s.Namespace
	out.LabelSelector, out.AnnotationSelector = s.LabelSelector, s.AnnotationSelector
	return out
}

// withoutOriginLabels is the stream as it comes out of helm-controller's
// kustomize post-renderers: its last post-renderer, OriginLabels, then
// labels every object helm.toolkit.fluxcd.io/name and /namespace, Flux's
// own bookkeeping, left out of the comparison; none of ours may clash.
func withoutOriginLabels(t testing.TB, stream []byte) []byte {
	t.Helper()
	for id, obj := range testutil.Objects(t, stream) {
		meta, _ := obj["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		for _, l := range fluxOriginLabels {
			if _, clash := labels[l]; clash {
				t.Errorf("%s already carries Flux's label %s", id, l)
			}
		}
	}
	return stream
}

// TestFluxAddsAutoscalers: the autoscalers of --autoscale are objects
// Flux's post-renderers cannot add, so the flux export writes them into
// its added objects, one per autoscaled component, and no patch of the
// HelmRelease makes one.
func TestFluxAddsAutoscalers(t *testing.T) {
	helm := testutil.Helm4(t)
	for _, c := range testutil.GoldenCases(t, 10) {
		if c.Name != "autoscale" {
			continue
		}
		hr, objects := fluxExport(t, helm, c)
		want := []string{"myharbor-core", "myharbor-jobservice", "myharbor-portal", "myharbor-registry", "myharbor-trivy"}
		var got []string
		for _, doc := range strings.Split(string(objects), "\n---\n") {
			var o struct {
				Kind     string
				Metadata struct{ Name string }
			}
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatal(err)
			}
			if o.Kind == "HorizontalPodAutoscaler" {
				got = append(got, o.Metadata.Name)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("autoscalers among the added objects: %v, want %v", got, want)
		}
		b, err := json.Marshal(hr.Spec.PostRenderers)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "HorizontalPodAutoscaler") {
			t.Errorf("a post-renderer patch of the HelmRelease names an autoscaler: %s", b)
		}
		return
	}
	t.Fatal("no golden case autoscale")
}
