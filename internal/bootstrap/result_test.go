package bootstrap

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/values"
)

var bootstrapped = Result{Namespace: "harbor",
	Database: &DatabaseResult{Role: "harbor", Database: "registry", Secret: "myharbor-harborha-db"},
	Redis:    &RedisResult{User: "harbor", Secret: "myharbor-harborha-redis", Nodes: []string{"10.0.0.11:6379"}},
	Generated: &generated.Set{Namespace: "harbor", Secrets: []generated.Secret{
		{Name: "core", Secret: "myharbor-harborha-core", State: generated.StateCreated,
			Settings: []values.Setting{{Path: "core.existingSecret", Value: "myharbor-harborha-core"}}},
		{Name: "registry-credentials", Secret: "myharbor-harborha-registry-credentials", State: generated.StateAdopted,
			Settings: []values.Setting{{Path: "registry.credentials.existingSecret", Value: "myharbor-harborha-registry-credentials"},
				{Path: "registry.credentials.username", Value: "harbor_registry_user"}}},
	}},
}

// The overlay after bootstrap uses the dedicated role, its Secret and the
// chosen database name, Redis's dedicated user (no password, and no
// existingSecret: the post-renderer references the Secret), and the
// generated values' Secrets.
func TestSettingsPointTheOverlayAtTheBootstrappedRoleAndUser(t *testing.T) {
	// An overlay as values writes it from discovery alone: the superuser,
	// the KubeBlocks Secrets.
	var vals map[string]any
	if err := yaml.Unmarshal([]byte(`
database:
  type: external
  external:
    host: 10.96.0.10
    port: "5432"
    username: postgres
    password: superuser-password-inline
    coreDatabase: registry
    existingSecret: mypg-conn-credential
    sslmode: disable
redis:
  type: external
  external:
    addr: 10.96.0.11:6379
    password: superuser-redis-password
    existingSecret: myredis-redis-account-default
    jobserviceDatabaseIndex: "1"
`), &vals); err != nil {
		t.Fatal(err)
	}
	settings, err := bootstrapped.Settings(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := values.Apply(vals, settings); err != nil {
		t.Fatal(err)
	}
	got, _ := yaml.Marshal(vals)
	want := `core:
  existingSecret: myharbor-harborha-core
database:
  external:
    coreDatabase: registry
    existingSecret: myharbor-harborha-db
    host: 10.96.0.10
    port: "5432"
    sslmode: disable
    username: harbor
  type: external
redis:
  external:
    addr: 10.96.0.11:6379
    jobserviceDatabaseIndex: "1"
    username: harbor
  type: external
registry:
  credentials:
    existingSecret: myharbor-harborha-registry-credentials
    username: harbor_registry_user
`
	if string(got) != want {
		t.Errorf("overlay:\n%s\nwant:\n%s", got, want)
	}
}

func TestSettingsAndApplyErrors(t *testing.T) {
	if _, err := bootstrapped.Settings(false); err == nil || !strings.Contains(err.Error(), "needs goharbor chart 1.12 or later") {
		t.Errorf("a chart without redis.external.username: got %v", err)
	}
	dbOnly := Result{Database: bootstrapped.Database}
	if _, err := dbOnly.Settings(false); err != nil {
		t.Errorf("without a Redis user, the chart version does not matter: %v", err)
	}

	tests := []struct {
		name, doc, want string
	}{
		{"scalar in the way", "database: external\n", "values: database is a string, not a map, so database.external.username cannot be set"},
		{"list in the way", "redis:\n  external: [a]\n", "values: redis.external is a []interface {}, not a map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var vals map[string]any
			if err := yaml.Unmarshal([]byte(tc.doc), &vals); err != nil {
				t.Fatal(err)
			}
			before, _ := yaml.Marshal(vals)
			settings, _ := bootstrapped.Settings(true)
			err := values.Apply(vals, settings)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if after, _ := yaml.Marshal(vals); string(after) != string(before) {
				t.Errorf("a failed Apply changed the values:\n%s", after)
			}
		})
	}
	// Removing a key under a map that does not exist creates nothing.
	vals := map[string]any{}
	if err := values.Apply(vals, []values.Setting{{Path: "database.external.password"}}); err != nil || len(vals) != 0 {
		t.Errorf("got %v, %v", vals, err)
	}
}

func TestOutputNeverShowsThePassword(t *testing.T) {
	for _, f := range []output.Format{output.Text, output.JSON, output.YAML} {
		var doc bytes.Buffer
		if err := f.Write(&doc, bootstrapped); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(doc.String(), "$2a$10$x") || !strings.Contains(doc.String(), "myharbor-harborha-redis") || !strings.Contains(doc.String(), "myharbor-harborha-core") {
			t.Errorf("-o %q:\n%s", f, doc.String())
		}
	}
}
