package export

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestKustomizeBuildEqualsPostRender: on every golden case, the real
// kustomize CLI building the kustomize export with --enable-helm and the
// real helm 3 and helm 4 gives the post-render output, object for object,
// which the real API server accepts (server-side dry run, Strict). A case
// with --kustomize is built the way the README says: the user's
// kustomization with the export as its first resource.
func TestKustomizeBuildEqualsPostRender(t *testing.T) {
	for name, helm := range helms(t) {
		for _, c := range testutil.GoldenCases(t, 10) {
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				dir, user := exportCase(t, helm, c, FormatKustomize)
				if user != "" {
					dir = onTop(t, dir, user)
				}
				got := kustomizeBuild(t, helm, dir)
				sameObjects(t, "kustomize build --enable-helm", got, golden(t, c))
				if name == "helm3" {
					dryRunOnServer(t, "kustomize build", got)
				}
			})
		}
	}
}

// onTop is the user's kustomization with the export as its first
// resource, as the README tells --kustomize users to layer theirs.
func onTop(t testing.TB, export, user string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(user, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k map[string]any
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	res, _ := k["resources"].([]any)
	dir := filepath.Join(filepath.Dir(export), "on-top")
	rel, err := filepath.Rel(dir, export) // kustomize takes a relative path to a base
	if err != nil {
		t.Fatal(err)
	}
	k["resources"] = append([]any{rel}, res...)
	out, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "kustomization.yaml"), out)
	return dir
}

// TestExportIsDeterministicAndHoldsNoCredential: two exports of the same
// input are the same bytes; every workload patch is a strategic-merge
// patch selected by labels (it survives the chart reordering lists or
// renaming objects), every ConfigMap and Secret patch (the credential
// rewrite's) one selected by exact name; no patch or resource holds a
// value of the rendered Secrets or the Redis password, not even in a
// Secret patch's base64.
func TestExportIsDeterministicAndHoldsNoCredential(t *testing.T) {
	helm := testutil.Helm3(t)
	for _, c := range testutil.GoldenCases(t, 10) {
		t.Run(c.Name, func(t *testing.T) {
			fa := sameTwice(t, helm, c, FormatKustomize)
			checkPatches(t, c.Name, fa)
			checkNoCredential(t, c, fa)
			if !hasKustomize(c) {
				sameTwice(t, helm, c, FormatFlux)
			}
		})
	}
}

// sameTwice exports a case twice and fails unless both are the same
// files with the same bytes; it returns the files.
func sameTwice(t *testing.T, helm string, c testutil.GoldenCase, format string) map[string]string {
	t.Helper()
	a, _ := exportCase(t, helm, c, format)
	b, _ := exportCase(t, helm, c, format)
	fa, fb := tree(t, a), tree(t, b)
	if strings.Join(harbor.SortedKeys(fa), ",") != strings.Join(harbor.SortedKeys(fb), ",") {
		t.Fatalf("%s: two exports hold different files:\n%v\n%v", format, harbor.SortedKeys(fa), harbor.SortedKeys(fb))
	}
	for name, data := range fa {
		if fb[name] != data {
			t.Errorf("%s: %s differs between two exports of the same input", format, name)
		}
	}
	return fa
}

// checkPatches: workloads are patched by strategic merge and selected by
// their selector labels; ConfigMaps and Secrets by strategic merge and
// exact name (and namespace, when the chart sets one: 1.14 does not);
// claims are deleted by exact name.
func checkPatches(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	var k struct {
		Patches []struct {
			Path   string
			Target Target
		}
	}
	if err := yaml.Unmarshal([]byte(files["kustomization.yaml"]), &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Patches) == 0 {
		t.Fatalf("%s: no patch", dir)
	}
	for _, p := range k.Patches {
		body := files[p.Path]
		switch p.Target.Kind {
		case "Deployment", "StatefulSet":
			if p.Target.LabelSelector == "" || p.Target.Name != "" || strings.HasPrefix(body, "- op:") {
				t.Errorf("%s: want a strategic-merge patch selected by labels, got target %+v", p.Path, p.Target)
			}
		case "ConfigMap", "Secret":
			if p.Target.Name == "" || p.Target.LabelSelector != "" || strings.HasPrefix(body, "- op:") {
				t.Errorf("%s: want a strategic-merge patch selected by exact name, got target %+v", p.Path, p.Target)
			}
		case "PersistentVolumeClaim":
			if p.Target.Name == "" || !strings.Contains(body, "$patch: delete") {
				t.Errorf("%s: want a delete by exact name, got target %+v", p.Path, p.Target)
			}
		}
	}
}

// checkNoCredential: patches and resources hold none of the rendered
// Secrets' values nor the case's Redis password.
func checkNoCredential(t *testing.T, c testutil.GoldenCase, files map[string]string) {
	t.Helper()
	secrets := secretValues(t, testutil.HelmTemplate(t, testutil.Chart(t, c.Chart), []string{filepath.Join(c.Dir, "values.yaml")}, "--kube-version", testutil.KubeVersion))
	secrets = append(secrets, "not-a-real-password")
	for name, data := range files {
		if !strings.HasPrefix(name, "patches/") && !strings.HasPrefix(name, "resources/") {
			continue
		}
		data += decodedSecretData(t, data)
		for _, s := range secrets {
			if strings.Contains(data, s) {
				t.Errorf("%s holds a credential of the release", name)
			}
		}
	}
}

// decodedSecretData is a Secret patch's data, decoded: a value the
// patch sets in base64 must not hide a password either.
func decodedSecretData(t testing.TB, patch string) string {
	var p struct {
		Kind string
		Data map[string]*string
	}
	if err := yaml.Unmarshal([]byte(patch), &p); err != nil || p.Kind != "Secret" {
		return ""
	}
	var out strings.Builder
	for k, v := range p.Data {
		if v == nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(*v)
		if err != nil {
			t.Errorf("Secret patch: data %s is not base64", k)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.String()
}

// secretValues are the values of the stream's Secrets (8 characters or
// more: shorter ones occur by chance).
func secretValues(t testing.TB, stream []byte) []string {
	var out []string
	for id, obj := range testutil.Objects(t, stream) {
		if id.Kind != "Secret" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			m, _ := obj[field].(map[string]any)
			for _, v := range m {
				if s, _ := v.(string); len(s) >= 8 {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// tree is every file under dir by slash path, with its content.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPatchesAreIdempotent: the export's patches applied a second time
// (a kustomization on top of the export with the same patches) change
// nothing: kustomize build still gives the post-render output.
func TestPatchesAreIdempotent(t *testing.T) {
	helm := testutil.Helm3(t)
	for _, c := range testutil.GoldenCases(t, 10) {
		if hasKustomize(c) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			dir, _ := exportCase(t, helm, c, FormatKustomize)
			files := tree(t, dir)
			var k map[string]any
			if err := yaml.Unmarshal([]byte(files["kustomization.yaml"]), &k); err != nil {
				t.Fatal(err)
			}
			again := filepath.Join(filepath.Dir(dir), "again")
			for name, data := range files {
				if strings.HasPrefix(name, "patches/") {
					write(t, filepath.Join(again, name), []byte(data))
				}
			}
			top, err := yaml.Marshal(map[string]any{"resources": []any{"../harbor"}, "patches": k["patches"]})
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(again, "kustomization.yaml"), top)
			sameObjects(t, "the patches applied twice", kustomizeBuild(t, helm, again), golden(t, c))
		})
	}
}

// TestSetFlagsBecomeAValuesFile: --set, --set-string and --set-json are
// written as values/set.yaml after the -f files, and kustomize build gives
// what helm template with the flags, post-rendered, gives.
func TestSetFlagsBecomeAValuesFile(t *testing.T) {
	helm := testutil.Helm3(t)
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	sets := []string{"--set", "core.replicas=3", "--set-string", "portal.podAnnotations.team=010", "--set-json", `trivy.resources={"requests":{"cpu":"250m"}}`}
	want := testutil.Run(t, testutil.HelmTemplate(t, testutil.Chart(t, "harbor-1.19.1.tgz"), []string{values}, append([]string{"--kube-version", testutil.KubeVersion}, sets...)...),
		testutil.Harborha(t), "post-render")
	c := testutil.GoldenCase{Name: "sets", Dir: filepath.Dir(values), Chart: "harbor-1.19.1.tgz", Args: sets}
	dir, _ := exportCase(t, helm, c, FormatKustomize)
	files := tree(t, dir)
	if !strings.Contains(files[setFile], "team: \"010\"") || !strings.Contains(files["kustomization.yaml"], "- "+setFile) {
		t.Errorf("%s or its place in helmCharts is wrong:\n%s", setFile, files[setFile])
	}
	sameObjects(t, "kustomize build with --set*", kustomizeBuild(t, helm, dir), want)
}
