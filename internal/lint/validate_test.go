package lint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/manifest"
)

func TestMain(m *testing.M) {
	// Tests must not read the developer's Helm environment or kubeconfig.
	for _, v := range []string{"HELM_NAMESPACE", "HELM_KUBECONTEXT", "HELM_KUBETOKEN", "HELM_KUBEAPISERVER", "KUBECONFIG"} {
		os.Unsetenv(v)
	}
	kubetest.Main(m)
}

// A release with objects the real API server refuses: --validate reports
// exactly those, and the same ones kubetest's plain dry-run create refuses.
func TestValidateReportsWhatTheAPIServerRejects(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t, "lint")
	f := baselineIn(t, ns)
	// A misspelt field: only strict field validation catches it.
	f.set(dpl, "myharbor-core", `[{name: core, image: goharbor/harbor-core:v2.15.1, imagePullPolicyy: Always}]`,
		"spec", "template", "spec", "containers")
	// Recreate with a rollingUpdate block (goharbor/harbor-helm#2288).
	f.set(dpl, "myharbor-registry", "{type: Recreate, rollingUpdate: {maxSurge: 1}}", "spec", "strategy")
	// Both budget fields, as the chart renders them when both values are set.
	f.set(pdb, "myharbor-core", "1", "spec", "maxUnavailable")
	// A kind this server does not serve.
	f.add("{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: myharbor, namespace: " + ns + "}, spec: {}}")
	stream := f.stream()
	dir := writeFiles(t, map[string]string{"release.yaml": string(stream)})

	r, failed := lintJSON(t, nil, "--validate", "--kubeconfig", env.Kubeconfig, "-n", ns, filepath.Join(dir, "release.yaml"))
	want := []string{
		"HA100 Deployment/myharbor-core error",
		"HA100 Deployment/myharbor-registry error",
		"HA100 PodDisruptionBudget/myharbor-core error",
		"HA100 ServiceMonitor/myharbor error",
	}
	if got := summary(r, ruleRejected); !slices.Equal(got, want) {
		t.Errorf("rejections:\n got %q\nwant %q", got, want)
	}
	if !failed {
		t.Error("rejected objects must fail the lint")
	}
	messages := map[string]string{}
	for _, x := range r.Findings {
		if x.Rule == ruleRejected {
			messages[x.Object.Kind+"/"+x.Object.Name] = x.Message
		}
	}
	for obj, says := range map[string]string{
		"Deployment/myharbor-core":          `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`,
		"Deployment/myharbor-registry":      "may not be specified when strategy `type` is 'Recreate'",
		"PodDisruptionBudget/myharbor-core": "minAvailable and maxUnavailable cannot be both set",
		"ServiceMonitor/myharbor":           "does not serve monitoring.coreos.com/v1 ServiceMonitor",
	} {
		if !strings.Contains(messages[obj], says) {
			t.Errorf("%s: message %q does not say %q", obj, messages[obj], says)
		}
	}

	// kubetest's dry-run create (another client, another verb) refuses the
	// same objects: the findings are the server's, not ours.
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	for i, e := range env.DryRunCreate(t.Context(), ns, objects(docs)) {
		if e != nil {
			refused = append(refused, "HA100 "+docs[i].Obj.GetKind()+"/"+docs[i].Obj.GetName()+" error")
		}
	}
	slices.Sort(refused)
	if !slices.Equal(refused, want) {
		t.Errorf("kubetest.DryRunCreate refuses %q, lint --validate %q", refused, want)
	}
}

// The chart's own output is valid: --validate adds nothing to the
// findings of the post-render goldens.
func TestValidateAcceptsTheGoldens(t *testing.T) {
	env := kubetest.Start(t)
	env.EnsureNamespace(t, "harbor")
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			r, _ := lintJSON(t, nil, "--validate", "--kubeconfig", env.Kubeconfig, "-n", "harbor", filepath.Join(c.Dir, "expected.yaml"))
			if got, want := summary(r, ""), goldenWant(t, c.Name); !slices.Equal(got, want) {
				t.Errorf("findings with --validate:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// Objects already on the server are checked as the upgrade would change
// them: an immutable field is reported, an unchanged object is not.
func TestValidateInstalledRelease(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t, "installed")
	f := baselineIn(t, ns)
	env.Create(t, ns, f.obj(dpl, "myharbor-core").DeepCopy(), f.obj(cm, "myharbor-core").DeepCopy())
	// The upgrade changes core's selector, which Kubernetes never allows.
	f.set(dpl, "myharbor-core", `{matchLabels: {release: myharbor, app: harbor, component: core, tier: api}}`, "spec", "selector")
	f.set(dpl, "myharbor-core", `{release: myharbor, app: harbor, component: core, tier: api}`, "spec", "template", "metadata", "labels")
	dir := writeFiles(t, map[string]string{"release.yaml": string(f.stream())})

	r, _ := lintJSON(t, nil, "--validate", "--kubeconfig", env.Kubeconfig, filepath.Join(dir, "release.yaml"))
	if got, want := summary(r, ruleRejected), []string{"HA100 Deployment/myharbor-core error"}; !slices.Equal(got, want) {
		t.Fatalf("rejections %q, want %q", got, want)
	}
	if msg := r.Findings[0].Message; !strings.Contains(msg, "field is immutable") {
		t.Errorf("message %q does not name the immutable field", msg)
	}
}

func TestValidateCannotRun(t *testing.T) {
	env := kubetest.Start(t)
	// Objects without a namespace go to -n, which does not exist.
	f := baselineIn(t, "")
	release := filepath.Join(writeFiles(t, map[string]string{"r.yaml": string(f.stream())}), "r.yaml")
	unreachable := kubeconfigFor(t, "https://127.0.0.1:1")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no such namespace", []string{"--kubeconfig", env.Kubeconfig, "-n", "nowhere-to-be-found"}, `namespace "nowhere-to-be-found" does not exist on ` + env.Server},
		{"no API server", []string{"--kubeconfig", unreachable}, "cannot reach the Kubernetes API server https://127.0.0.1:1"},
		{"no kubeconfig", []string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, "--validate:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, _, _, err := runLint(t, nil, append(append([]string{"--validate"}, c.args...), release)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout must stay empty, got %q", stdout)
			}
		})
	}
}

func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func objects(docs []*manifest.Doc) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range docs {
		out = append(out, d.Obj)
	}
	return out
}
