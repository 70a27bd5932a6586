package bootstrap

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The --dry-run document: what would be created, passwords redacted.
func TestDryRunGolden(t *testing.T) {
	o := validOptions()
	o.Redis.Service = "myredis-redis-redis"
	o.Postgres.Namespace = "databases"
	doc, err := DryRun(o)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "dry-run.golden.yaml"), doc)
	// It says where the Redis pods that get the user are recorded.
	if !strings.Contains(string(doc), "# Then ConfigMap harbor/myharbor-harborha-redis-nodes records those pods") {
		t.Error("the dry run does not name the record of the Redis pods")
	}
}

// Every secret value in the dry run is the placeholder, and every
// credential variable of the Jobs is read through secretKeyRef. (Run's own
// objects are checked against the real generated passwords in
// TestRunSetsUpBothOnceThenReusesEverything.)
func TestDryRunHoldsNoSecretValue(t *testing.T) {
	o := validOptions()
	o.Postgres.Namespace = "databases"
	doc, err := DryRun(o)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	// Two passwords, one single-use copy, and the generated values' keys
	// (one each, two for the token pair and for the registry's credentials).
	if n, want := strings.Count(text, output.Redacted), 3+len(generated.Names())+2; n != want {
		t.Errorf("%d redacted values, want %d:\n%s", n, want, text)
	}
	for _, key := range []string{"PGUSER", "PGPASSWORD", "HARBOR_DB_PASSWORD", "REDIS_ADMIN_USER", "REDISCLI_AUTH", "HARBOR_REDIS_PASSWORD"} {
		i := strings.Index(text, "- name: "+key+"\n")
		if i < 0 {
			t.Errorf("%s missing", key)
			continue
		}
		rest := strings.TrimLeft(text[i+len("- name: "+key+"\n"):], " ")
		if !strings.HasPrefix(rest, "valueFrom:\n") || !strings.HasPrefix(strings.TrimLeft(rest[len("valueFrom:\n"):], " "), "secretKeyRef:") {
			t.Errorf("%s is not read through secretKeyRef:\n%.200s", key, rest)
		}
	}
}
