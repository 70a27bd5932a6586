// Package generated keeps the values the goharbor chart would generate on
// every render in Secrets of Harbor's namespace, created once: core's
// secret, the jobservice secret, the registry's HTTP secret, the CSRF key,
// the token service key pair and the registry's credentials. The chart
// makes them anew on every render (randAlphaNum, genCA, htpasswd; or
// lookup, which helm template and GitOps tools cannot do); Ensure creates
// them once, and only --rotate changes them. On a running release it
// adopts the values the release runs with, so the first upgrade logs
// nobody out. The overlay then points the chart at them (Set.Settings):
// every field exists in every chart version 1.14.0-1.19.1.
//
// Every Secret harborha owns in Harbor's namespace is made the same way,
// here (NewSecret, GetOrCreate): bootstrap's role and user passwords too.
// Install and upgrade ensure these even with --no-bootstrap.
package generated

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/values"
)

// value is one value the chart would generate.
type value struct {
	name     string // its --rotate name and Secret suffix
	what     string // for messages
	keys     []string
	generate func(now time.Time) (map[string][]byte, error)
	// adopt reads the value the running release uses; nil data when the
	// release does not give it.
	adopt    func(ctx context.Context, l *liveRelease) (map[string][]byte, error)
	settings func(secret string, data map[string][]byte) []values.Setting
}

// Keys of the generated Secrets: what each chart field expects.
const (
	coreSecretKey      = "secret" // core.existingSecret (fixed by the chart)
	jobserviceKey      = "JOBSERVICE_SECRET"
	registryHTTPKey    = "REGISTRY_HTTP_SECRET"
	csrfKey            = "CSRF_KEY"
	tokenKeyKey        = "tls.key" // core.secretName (fixed)
	tokenCertKey       = "tls.crt"
	registryPasswdKey  = "REGISTRY_PASSWD" // registry.credentials.existingSecret (fixed)
	registryHtpasswdKy = "REGISTRY_HTPASSWD"
)

var chartValues = []value{
	alphaNumValue("core", "core's secret", coreSecretKey, 16, "core", "core", "CORE_SECRET",
		func(s string) []values.Setting { return []values.Setting{{Path: "core.existingSecret", Value: s}} }),
	alphaNumValue("jobservice", "the jobservice secret", jobserviceKey, 16, "jobservice", "jobservice", "JOBSERVICE_SECRET",
		func(s string) []values.Setting {
			return []values.Setting{{Path: "jobservice.existingSecret", Value: s}, {Path: "jobservice.existingSecretKey", Value: jobserviceKey}}
		}),
	alphaNumValue("registry", "the registry's HTTP secret", registryHTTPKey, 16, "registry", "registry", "REGISTRY_HTTP_SECRET",
		func(s string) []values.Setting {
			return []values.Setting{{Path: "registry.existingSecret", Value: s}, {Path: "registry.existingSecretKey", Value: registryHTTPKey}}
		}),
	alphaNumValue("csrf", "the CSRF key", csrfKey, 32, "core", "core", "CSRF_KEY",
		func(s string) []values.Setting {
			return []values.Setting{{Path: "core.existingXsrfSecret", Value: s}, {Path: "core.existingXsrfSecretKey", Value: csrfKey}}
		}),
	{
		name: "token", what: "the token service key pair", keys: []string{tokenKeyKey, tokenCertKey},
		generate: func(now time.Time) (map[string][]byte, error) {
			key, cert, err := tokenPair(now)
			return map[string][]byte{tokenKeyKey: key, tokenCertKey: cert}, err
		},
		adopt: adoptToken,
		settings: func(s string, _ map[string][]byte) []values.Setting {
			return []values.Setting{{Path: "core.secretName", Value: s}}
		},
	},
	{
		name: "registry-credentials", what: "the registry's credentials", keys: []string{registryPasswdKey, registryHtpasswdKy},
		generate: func(time.Time) (map[string][]byte, error) {
			pw := rand.Text()
			line, err := htpasswdLine(DefaultRegistryUser, pw)
			return map[string][]byte{registryPasswdKey: []byte(pw), registryHtpasswdKy: []byte(line)}, err
		},
		adopt: adoptRegistryCredentials,
		settings: func(s string, data map[string][]byte) []values.Setting {
			return []values.Setting{{Path: "registry.credentials.existingSecret", Value: s},
				{Path: "registry.credentials.username", Value: htpasswdUser(string(data[registryHtpasswdKy]))}}
		},
	},
}

// Names are the --rotate names of the generated values.
func Names() []string {
	var out []string
	for _, v := range chartValues {
		out = append(out, v.name)
	}
	return out
}

// SecretName is the Secret holding a generated value: never one
// of the chart's own names (<fullname>-core, ...), which Helm would own.
func SecretName(release, name string) string { return release + "-harborha-" + name }

// alphaNumValue is a random letters-and-digits value the release reads
// from one container's environment.
func alphaNumValue(name, what, key string, n int, component, container, env string, settings func(string) []values.Setting) value {
	return value{
		name: name, what: what, keys: []string{key},
		generate: func(time.Time) (map[string][]byte, error) {
			v, err := randomAlphaNum(n)
			return map[string][]byte{key: []byte(v)}, err
		},
		adopt: func(ctx context.Context, l *liveRelease) (map[string][]byte, error) {
			v, ok, err := l.env(ctx, component, container, env)
			if err != nil || !ok || v == "" {
				return nil, err
			}
			return map[string][]byte{key: []byte(v)}, nil
		},
		settings: func(s string, _ map[string][]byte) []values.Setting { return settings(s) },
	}
}

// adoptToken reads the key core signs tokens with (mounted at
// /etc/core/private_key.pem) and its certificate, or makes a certificate
// for the key when the release's Secret has none.
func adoptToken(ctx context.Context, l *liveRelease) (map[string][]byte, error) {
	key, secret, err := l.mountedFile(ctx, "core", "core", "/etc/core/private_key.pem")
	if err != nil || key == nil {
		return nil, err
	}
	out := map[string][]byte{tokenKeyKey: key, tokenCertKey: secret[tokenCertKey]}
	if len(out[tokenCertKey]) == 0 {
		priv, err := parseTokenKey(key)
		if err != nil {
			return nil, fmt.Errorf("the token service key core mounts in namespace %s is not an RSA key in PEM: %v", l.ns, err)
		}
		if out[tokenCertKey], err = tokenCert(priv, time.Now()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// adoptRegistryCredentials reads the password core and jobservice send to
// the registry and the htpasswd line the registry checks it against.
func adoptRegistryCredentials(ctx context.Context, l *liveRelease) (map[string][]byte, error) {
	pw, ok, err := l.env(ctx, "core", "core", "REGISTRY_CREDENTIAL_PASSWORD")
	if err != nil || !ok || pw == "" {
		return nil, err
	}
	line, _, err := l.mountedFile(ctx, "registry", "registry", "/etc/registry/passwd")
	if err != nil || line == nil {
		return nil, err
	}
	return map[string][]byte{registryPasswdKey: []byte(pw), registryHtpasswdKy: line}, nil
}

// Spec says for which release to ensure the generated Secrets.
type Spec struct {
	Release   string
	Namespace string // Harbor's
	// Rotate names the values to generate anew (Names).
	Rotate   []string
	Progress io.Writer // one line per Secret; nil discards
}

// Set is where the generated values are, for the overlay and the
// user; it never holds a value in its JSON/YAML form.
type Set struct {
	Namespace string   `json:"namespace"`
	Secrets   []Secret `json:"secrets"`
}

// Secret is one generated value's Secret and what was done.
type Secret struct {
	Name   string `json:"name"`   // the --rotate name
	Secret string `json:"secret"` // in Set.Namespace
	// State: created (generated now), adopted (from the running
	// release), reused, rotated, or missing (Read only).
	State string `json:"state"`
	// Settings are the chart fields pointing at it.
	Settings []values.Setting `json:"-"`
}

// States of a generated Secret.
const (
	StateCreated = "created"
	StateAdopted = "adopted"
	StateReused  = "reused"
	StateRotated = "rotated"
	StateMissing = "missing"
)

// Settings point the chart at every Secret that exists.
func (g Set) Settings() []values.Setting {
	var out []values.Setting
	for _, s := range g.Secrets {
		out = append(out, s.Settings...)
	}
	return out
}

// Missing are the Secrets that do not exist (Read).
func (g Set) Missing() []string {
	var out []string
	for _, s := range g.Secrets {
		if s.State == StateMissing {
			out = append(out, s.Secret)
		}
	}
	return out
}

// checkRotate refuses a name that is not a generated value's.
func checkRotate(names []string) error {
	for _, n := range names {
		if !slices.Contains(Names(), n) {
			return fmt.Errorf("--rotate: %q is not one of %s", n, strings.Join(Names(), ", "))
		}
	}
	return nil
}

// Ensure creates the missing generated Secrets (adopting a
// running release's values), rotates those named in Rotate, and reuses
// the others unchanged. It needs only the Kubernetes API (no Job).
func Ensure(ctx context.Context, c *kube.Client, o Spec) (Set, error) {
	if err := checkRotate(o.Rotate); err != nil {
		return Set{}, err
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	g := &generator{c: c, o: o}
	out := Set{Namespace: o.Namespace}
	for _, v := range chartValues {
		s, err := g.ensure(ctx, v)
		if err != nil {
			return Set{}, err
		}
		out.Secrets = append(out.Secrets, s)
	}
	return out, nil
}

type generator struct {
	c    *kube.Client
	o    Spec
	live *liveRelease
}

func (g *generator) say(format string, args ...any) {
	fmt.Fprintf(g.o.Progress, "bootstrap: "+format+"\n", args...)
}

func (g *generator) ensure(ctx context.Context, v value) (Secret, error) {
	ns, name := g.o.Namespace, SecretName(g.o.Release, v.name)
	var data map[string][]byte
	var state string
	s, created, err := GetOrCreate(ctx, g.c, ns, name, func() (*corev1.Secret, error) {
		var err error
		if data, state, err = g.initial(ctx, v); err != nil {
			return nil, err
		}
		return valueSecret(ns, name, g.o.Release, v, data), nil
	})
	if err != nil {
		return Secret{}, err
	}
	if created {
		g.say("created Secret %s/%s (%s, %s)", ns, name, v.what, map[string]string{StateAdopted: "the value the running release uses", StateCreated: "generated"}[state])
		return Secret{Name: v.name, Secret: name, State: state, Settings: v.settings(name, data)}, nil
	}
	if slices.Contains(g.o.Rotate, v.name) {
		return g.rotate(ctx, v, s)
	}
	if err := checkKeys(s, v); err != nil {
		return Secret{}, err
	}
	g.say("reusing Secret %s/%s (%s)", ns, name, v.what)
	return Secret{Name: v.name, Secret: name, State: StateReused, Settings: v.settings(name, s.Data)}, nil
}

// initial is a missing Secret's data: the running release's value, or a
// new one.
func (g *generator) initial(ctx context.Context, v value) (map[string][]byte, string, error) {
	if g.live == nil {
		l, err := readLive(ctx, g.c, g.o.Namespace, g.o.Release)
		if err != nil {
			return nil, "", err
		}
		g.live = l
	}
	if g.live.installed() {
		data, err := v.adopt(ctx, g.live)
		if err != nil {
			return nil, "", err
		}
		if data != nil {
			return data, StateAdopted, nil
		}
		g.say("warning: release %s runs, but %s could not be read from its pods: a new one is generated", g.o.Release, v.what)
	}
	data, err := v.generate(time.Now())
	return data, StateCreated, err
}

func (g *generator) rotate(ctx context.Context, v value, s *corev1.Secret) (Secret, error) {
	data, err := v.generate(time.Now())
	if err != nil {
		return Secret{}, err
	}
	s.Data = data
	if _, err := g.c.Typed.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return Secret{}, g.c.Explain(err, kube.Op{Verb: "update", Resource: "secrets", Namespace: s.Namespace, Name: s.Name})
	}
	g.say("rotated Secret %s/%s (%s): restart Harbor's pods to use it (kubectl -n %s rollout restart deployment,statefulset -l release=%s)", s.Namespace, s.Name, v.what, s.Namespace, g.o.Release)
	return Secret{Name: v.name, Secret: s.Name, State: StateRotated, Settings: v.settings(s.Name, data)}, nil
}

func checkKeys(s *corev1.Secret, v value) error {
	for _, k := range v.keys {
		if len(s.Data[k]) == 0 {
			return fmt.Errorf("Secret %s/%s (%s) has no key %q: delete it or pass --rotate=%s to generate a new one", s.Namespace, s.Name, v.what, k, v.name)
		}
	}
	return nil
}

// Read finds the generated Secrets without creating any, for
// `helm harborha template` and `values --bootstrapped`: the overlay points
// only at those that exist.
func Read(ctx context.Context, c *kube.Client, namespace, release string) (Set, error) {
	out := Set{Namespace: namespace}
	for _, v := range chartValues {
		name := SecretName(release, v.name)
		s, err := c.Typed.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out.Secrets = append(out.Secrets, Secret{Name: v.name, Secret: name, State: StateMissing})
			continue
		case err != nil:
			return Set{}, c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: namespace, Name: name})
		}
		if err := checkKeys(s, v); err != nil {
			return Set{}, err
		}
		out.Secrets = append(out.Secrets, Secret{Name: v.name, Secret: name, State: StateReused, Settings: v.settings(name, s.Data)})
	}
	return out, nil
}

// valueSecret is a generated value's Secret.
func valueSecret(ns, name, release string, v value, data map[string][]byte) *corev1.Secret {
	s := NewSecret(ns, name, release, "generated-"+v.name, data)
	s.Annotations = map[string]string{
		"harborha.io/note": "generated by helm harborha for " + v.what + "; kept across upgrades and uninstalls, changed only by --rotate=" + v.name,
	}
	return s
}

// DryRun are the Secrets Ensure would create for a release, every value
// redacted.
func DryRun(ns, release string) []*corev1.Secret {
	var out []*corev1.Secret
	for _, v := range chartValues {
		data := map[string][]byte{}
		for _, k := range v.keys {
			data[k] = []byte(output.Redacted)
		}
		out = append(out, valueSecret(ns, SecretName(release, v.name), release, v, data))
	}
	return out
}
