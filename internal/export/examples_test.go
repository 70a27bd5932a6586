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
// export writes: workload patches selected by labels, no valuesFrom (the
// values need no password), the Redis password read by the pods from the
// KubeBlocks Secret through the patches.
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
	if len(hr.Spec.ValuesFrom) != 0 {
		t.Errorf("the export writes no valuesFrom: %+v", hr.Spec.ValuesFrom)
	}
	if strings.Contains(string(hr.Spec.Values.Raw), "password") {
		t.Errorf("the example's values hold a password")
	}
	patches := hr.Spec.PostRenderers[0].Kustomize.Patches
	refs := map[string]bool{}
	for _, p := range patches {
		if p.Target.Kind == "Deployment" && p.Target.LabelSelector == "" {
			t.Errorf("a Deployment patch selected by name: %+v", p.Target)
		}
		var v any
		if err := yaml.Unmarshal([]byte(p.Patch), &v); err != nil {
			t.Fatalf("patch of %s: %v", p.Target.Kind, err)
		}
		walkRedisRefs(v, refs)
	}
	if len(refs) != 1 || !refs["myredis-redis-account-default:password"] {
		t.Errorf("want the Redis password from the KubeBlocks Secret only, the patches read it from %v", refs)
	}
}
