package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestFluxExampleIsAHelmRelease: examples/flux/helmrelease.yaml is a valid
// HelmRelease of helm-controller's API (decoded strictly), in the shape the
// export writes: workload patches selected by labels, the Redis password
// from a Secret.
func TestFluxExampleIsAHelmRelease(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "flux", "helmrelease.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var hr helmv2.HelmRelease
	if err := yaml.UnmarshalStrict([]byte(doc[strings.Index(doc, "apiVersion: "+fluxHelmAPI):]), &hr); err != nil {
		t.Fatalf("not a HelmRelease: %v", err)
	}
	if len(hr.Spec.ValuesFrom) != 1 || hr.Spec.ValuesFrom[0].TargetPath != "redis.external.password" {
		t.Errorf("want the Redis password from a Secret: %+v", hr.Spec.ValuesFrom)
	}
	if strings.Contains(string(hr.Spec.Values.Raw), "password") {
		t.Errorf("the example's values hold a password")
	}
	patches := hr.Spec.PostRenderers[0].Kustomize.Patches
	for _, p := range patches {
		if p.Target.Kind == "Deployment" && p.Target.LabelSelector == "" {
			t.Errorf("a Deployment patch selected by name: %+v", p.Target)
		}
	}
}
