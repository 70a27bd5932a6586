package generated

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
	"github.com/harborha/helm-harborha/internal/values"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// On the real kube-apiserver: the generated Secrets are created once with
// values of the chart's own shape, reused unchanged afterwards, and only
// the values --rotate names change.
func TestEnsureCreatesOnceAndRotatesOnlyWhatIsNamed(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t)
	ns := env.Namespace(t, "generated")
	c := &kube.Client{Typed: env.Typed, Namespace: ns}
	ctx := context.Background()
	var progress bytes.Buffer
	o := Spec{Release: "myharbor", Namespace: ns, Progress: &progress}

	first, err := Ensure(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if states := statesOf(first); !slices.Equal(states, repeat(StateCreated, len(chartValues))) {
		t.Errorf("first run: states %v, want every Secret created", states)
	}
	data := secretsData(t, env.Typed.CoreV1().Secrets(ns), first)
	checkShapes(t, data)

	second, err := Ensure(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if states := statesOf(second); !slices.Equal(states, repeat(StateReused, len(chartValues))) {
		t.Errorf("second run: states %v, want every Secret reused", states)
	}
	if again := secretsData(t, env.Typed.CoreV1().Secrets(ns), second); !equalData(again, data) {
		t.Error("the second run changed a generated value")
	}

	o.Rotate = []string{"token", "csrf"}
	rotated, err := Ensure(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	after := secretsData(t, env.Typed.CoreV1().Secrets(ns), rotated)
	for _, s := range rotated.Secrets {
		changed := !bytes.Equal(flat(after[s.Name]), flat(data[s.Name]))
		if want := slices.Contains(o.Rotate, s.Name); changed != want || (s.State == StateRotated) != want {
			t.Errorf("--rotate=token,csrf: %s changed=%v state %s", s.Name, changed, s.State)
		}
	}
	checkShapes(t, after)

	read, err := Read(ctx, c, ns, "myharbor")
	if err != nil || len(read.Missing()) != 0 || !slices.Equal(settingPaths(read.Settings()), settingPaths(first.Settings())) {
		t.Errorf("Read: %v, missing %v", err, read.Missing())
	}
	for _, d := range data {
		for _, v := range d {
			if strings.Contains(progress.String(), string(v)) {
				t.Error("a generated value is in the progress")
			}
		}
	}
	if _, err := Ensure(ctx, c, Spec{Release: "myharbor", Namespace: ns, Rotate: []string{"tokens"}}); err == nil ||
		!strings.Contains(err.Error(), `--rotate: "tokens" is not one of core, jobservice, registry, csrf, token, registry-credentials`) {
		t.Errorf("an unknown --rotate name: %v", err)
	}
}

// checkShapes: each value has the shape its consumer needs (the chart's
// own lengths, a token key that signs with its certificate, an htpasswd
// line that accepts the password).
func checkShapes(t *testing.T, data map[string]map[string][]byte) {
	t.Helper()
	for name, n := range map[string]int{"core": 16, "jobservice": 16, "registry": 16, "csrf": 32} {
		for _, v := range data[name] {
			if len(v) != n || strings.Trim(string(v), alphaNum) != "" {
				t.Errorf("%s: %d characters, want %d letters and digits", name, len(v), n)
			}
		}
	}
	key, err := parseTokenKey(data["token"][tokenKeyKey])
	if err != nil {
		t.Fatalf("token key: %v", err)
	}
	block, _ := pem.Decode(data["token"][tokenCertKey])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "harbor-token-ca" || !key.PublicKey.Equal(cert.PublicKey) {
		t.Errorf("token certificate: %v, CN %q, matches the key: %v", err, cert.Subject.CommonName, err == nil && key.PublicKey.Equal(cert.PublicKey))
	}
	cred := data["registry-credentials"]
	if !htpasswdMatches(string(cred[registryHtpasswdKy]), DefaultRegistryUser, string(cred[registryPasswdKey])) {
		t.Error("the registry's htpasswd line does not accept its password")
	}
}

// A release installed with the plain chart (the pinned values stand for
// whatever it generated): every value is adopted as the pods see it, from
// the chart's Secrets or from Secrets its values named.
func TestEnsureAdoptsTheRunningRelease(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t)
	for _, tc := range []struct {
		chart string
		extra []string // helm template arguments
	}{
		{"harbor-1.19.1.tgz", nil},
		{"harbor-1.14.3.tgz", nil},
		{"harbor-1.18.4.tgz", []string{"--set", "core.existingSecret=mine-core", "--set", "jobservice.existingSecret=mine-js", "--set", "jobservice.existingSecretKey=js"}},
	} {
		t.Run(tc.chart, func(t *testing.T) {
			ns := env.Namespace(t, "adopt")
			objs, want := installedRelease(t, tc.chart, tc.extra)
			env.Create(t, ns, objs...)
			if len(tc.extra) > 0 { // the Secrets the values named
				for _, s := range []*corev1.Secret{
					{ObjectMeta: metav1.ObjectMeta{Name: "mine-core"}, Data: map[string][]byte{"secret": []byte("CoreFromMySecret")}},
					{ObjectMeta: metav1.ObjectMeta{Name: "mine-js"}, Data: map[string][]byte{"js": []byte("JobsFromMySecret")}},
				} {
					if _, err := env.Typed.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				want["core"][coreSecretKey], want["jobservice"][jobserviceKey] = []byte("CoreFromMySecret"), []byte("JobsFromMySecret")
			}
			g, err := Ensure(context.Background(), &kube.Client{Typed: env.Typed, Namespace: ns}, Spec{Release: "myharbor", Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			if states := statesOf(g); !slices.Equal(states, repeat(StateAdopted, len(chartValues))) {
				t.Errorf("states %v, want every value adopted", states)
			}
			if got := secretsData(t, env.Typed.CoreV1().Secrets(ns), g); !equalData(got, want) {
				t.Errorf("adopted values differ from what the release runs with")
			}
			if user := settingValue(g.Settings(), "registry.credentials.username"); user != DefaultRegistryUser {
				t.Errorf("registry.credentials.username = %v, want the htpasswd line's user", user)
			}
		})
	}
}

// installedRelease is the chart rendered with the pinned secrets, as a
// plain `helm install` leaves it (Secrets, ConfigMaps, Deployments), and
// the values it runs with, read from the chart's own Secrets.
func installedRelease(t *testing.T, chart string, extra []string) ([]*unstructured.Unstructured, map[string]map[string][]byte) {
	t.Helper()
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	all, err := kubetest.Decode(testutil.HelmTemplate(t, testutil.Chart(t, chart), []string{values}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	secrets := map[string]map[string][]byte{}
	for _, o := range all {
		switch o.GetKind() {
		case "Secret":
			var s corev1.Secret
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				t.Fatal(err)
			}
			secrets[strings.TrimPrefix(s.Name, "myharbor-")] = s.Data
		case "ConfigMap", "Deployment":
		default:
			continue
		}
		if _, hook := o.GetAnnotations()["helm.sh/hook"]; !hook {
			objs = append(objs, o)
		}
	}
	want := map[string]map[string][]byte{
		"core":                 {coreSecretKey: secrets["core"]["secret"]},
		"jobservice":           {jobserviceKey: secrets["jobservice"]["JOBSERVICE_SECRET"]},
		"registry":             {registryHTTPKey: secrets["registry"]["REGISTRY_HTTP_SECRET"]},
		"csrf":                 {csrfKey: secrets["core"]["CSRF_KEY"]},
		"token":                {tokenKeyKey: secrets["core"]["tls.key"], tokenCertKey: secrets["core"]["tls.crt"]},
		"registry-credentials": {registryPasswdKey: secrets["core"]["REGISTRY_CREDENTIAL_PASSWORD"], registryHtpasswdKy: secrets["registry-htpasswd"]["REGISTRY_HTPASSWD"]},
	}
	for name, d := range want {
		for k, v := range d {
			if len(v) == 0 && !(len(extra) > 0 && (name == "core" || name == "jobservice")) {
				t.Fatalf("the chart rendered no %s %s: the comparison would prove nothing", name, k)
			}
		}
	}
	return objs, want
}

type secretGetter interface {
	Get(ctx context.Context, name string, o metav1.GetOptions) (*corev1.Secret, error)
}

// secretsData is each generated Secret's data, by --rotate name.
func secretsData(t *testing.T, secrets secretGetter, g Set) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	for _, s := range g.Secrets {
		got, err := secrets.Get(context.Background(), s.Secret, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Secret %s: %v", s.Secret, err)
		}
		out[s.Name] = got.Data
	}
	return out
}

func statesOf(g Set) []string {
	var out []string
	for _, s := range g.Secrets {
		out = append(out, s.State)
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func equalData(a, b map[string]map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !bytes.Equal(flat(a[k]), flat(b[k])) {
			return false
		}
	}
	return true
}

// flat is a Secret's data as one comparable text.
func flat(d map[string][]byte) []byte {
	var b bytes.Buffer
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + string(d[k]) + "\n")
	}
	return b.Bytes()
}

func settingPaths(s []values.Setting) []string {
	var out []string
	for _, st := range s {
		out = append(out, st.Path)
	}
	return out
}

func settingValue(s []values.Setting, path string) any {
	for _, st := range s {
		if st.Path == path {
			return st.Value
		}
	}
	return nil
}

// htpasswdMatches reports whether the line is user's with that password.
func htpasswdMatches(line, user, password string) bool {
	u, hash, ok := strings.Cut(strings.TrimSpace(line), ":")
	return ok && u == user && bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
