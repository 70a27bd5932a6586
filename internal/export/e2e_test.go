package export

import (
	"testing"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestExportsPassServerSideDryRun sends what each format deploys, on every
// golden case, to the real kube-apiserver as a server-side dry run
// (dryRun=All, fieldValidation=Strict): the objects kustomize build
// --enable-helm gives, and the objects of the Flux export (the release as
// helm-controller post-renders it, and the added objects).
func TestExportsPassServerSideDryRun(t *testing.T) {
	env := kubetest.Start(t)
	env.EnsureNamespace(t, "harbor")
	helm3, helm4 := testutil.Helm3(t), testutil.Helm4(t)
	for _, c := range testutil.GoldenCases(t, 10) {
		t.Run(c.Name, func(t *testing.T) {
			dir, user := exportCase(t, helm3, c, FormatKustomize)
			if user != "" {
				dir = onTop(t, dir, user)
			}
			dryRun(t, env, "kustomize build", kustomizeBuild(t, helm3, dir))
			if hasKustomize(c) {
				return
			}
			hr, added := fluxExport(t, helm4, c)
			dryRun(t, env, "Flux", append(fluxApply(t, helm4, c, hr), added...))
		})
	}
}

func dryRun(t *testing.T, env *kubetest.Env, what string, stream []byte) {
	t.Helper()
	objs, err := kubetest.Decode(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 20 {
		t.Fatalf("%s: %d objects; a Harbor release has more", what, len(objs))
	}
	for _, err := range env.DryRunCreate(t.Context(), "harbor", objs) {
		if err != nil {
			t.Errorf("%s: the API server refuses %v", what, err)
		}
	}
}
