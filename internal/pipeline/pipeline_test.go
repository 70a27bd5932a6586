package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// One run, one client (one kubeconfig reading, one connection pool for
// preflight and discovery); a failed connection is not kept.
func TestConnectOnce(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	c := NewCluster(kube.NewFlags().Settings())
	if _, err := c.Client(); err == nil || c.client != nil {
		t.Fatalf("no kubeconfig: %v, client kept %v", err, c.client != nil)
	}
	cfg := filepath.Join(t.TempDir(), "config")
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
		"contexts: [{name: c, context: {cluster: c, user: u, namespace: harbor}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n"
	if err := os.WriteFile(cfg, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", cfg)
	c = NewCluster(kube.NewFlags().Settings())
	first, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Client(); again != first {
		t.Error("a second Client made a second client")
	}
	if c.listedNodes() != nil {
		t.Error("no Nodes listed yet, yet discovery would be handed a list")
	}
}

// The health check, once for every command: a warning under the force
// flag, else an error that says what the primary is needed for and names
// the flag.
func TestHealth(t *testing.T) {
	sick := &discover.Result{PostgreSQL: &discover.Endpoint{Cluster: "mypg", Namespace: "harbor", Engine: discover.PostgreSQL, Phase: "Updating", Problems: []string{"phase Updating"}}}
	tests := []struct {
		health  Health
		overlay bool
		warning string
		err     string
	}{
		{Health{Flag: "force"}, true, "", "PostgreSQL cluster harbor/mypg is not ready (phase Updating): wait until KubeBlocks reports it Running with a primary pod, or pass --force to write the values anyway"},
		{Health{Flag: "allow-unhealthy"}, true, "", "PostgreSQL cluster harbor/mypg is not ready (phase Updating): wait until KubeBlocks reports it Running with a primary pod, or pass --allow-unhealthy to write the values anyway"},
		{Health{Flag: "force"}, false, "", "PostgreSQL cluster harbor/mypg is not ready (phase Updating): bootstrap needs the primary; wait until KubeBlocks reports the cluster Running with a primary pod, or pass --force"},
		{Health{Flag: "force", Force: true}, false, "--force: PostgreSQL cluster harbor/mypg is not ready (phase Updating)", ""},
	}
	for _, tt := range tests {
		warning, err := tt.health.check(sick, tt.overlay)
		if warning != tt.warning || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("%+v, overlay %v: warning %q, error %v; want %q, %q", tt.health, tt.overlay, warning, err, tt.warning, tt.err)
		}
	}
	if w, err := (Health{Flag: "force"}).check(&discover.Result{}, true); w != "" || err != nil {
		t.Errorf("healthy clusters: %q, %v", w, err)
	}
}

// What a wrapper's run does about bootstrap: template and Helm's --dry-run
// read, install and upgrade create (only the generated values with
// --no-bootstrap).
func TestInstallStage(t *testing.T) {
	f := NewFlags("test")
	for _, tt := range []struct {
		action      string
		dryRun      bool
		noBootstrap bool
		want        Stage
	}{
		{"template", false, false, ReadPrior},
		{"install", true, false, ReadPrior},
		{"upgrade", false, true, CreateGenerated},
		{"install", false, false, Create},
	} {
		f.NoBootstrap = tt.noBootstrap
		if got := f.InstallStage(tt.action, tt.dryRun); got != tt.want {
			t.Errorf("%s dry-run %v no-bootstrap %v: stage %d, want %d", tt.action, tt.dryRun, tt.noBootstrap, got, tt.want)
		}
	}
}

// The PostgreSQL pods discovery found reach the database proxy, unless
// there is no proxy or the user named the pods.
func TestLearnPods(t *testing.T) {
	found := &discover.Result{PostgreSQL: &discover.Endpoint{Pods: "mypg-postgresql-headless.db.svc:5432"}}
	for _, tt := range []struct {
		name        string
		knobs       postrender.Knobs
		found       *discover.Result
		learnt, set string
	}{
		{"proxy", postrender.Knobs{DatabaseProxyImage: "dbproxy:1"}, found, "mypg-postgresql-headless.db.svc:5432", "mypg-postgresql-headless.db.svc:5432"},
		{"no proxy", postrender.Knobs{}, found, "", ""},
		{"the user's pods", postrender.Knobs{DatabaseProxyImage: "dbproxy:1", DatabasePods: "pg:5432"}, found, "", "pg:5432"},
		{"no PostgreSQL found", postrender.Knobs{DatabaseProxyImage: "dbproxy:1"}, &discover.Result{}, "", ""},
		{"pods that name no headless Service", postrender.Knobs{DatabaseProxyImage: "dbproxy:1"}, &discover.Result{PostgreSQL: &discover.Endpoint{}}, "", ""},
	} {
		k := tt.knobs
		if got := learnPods(&k, tt.found); got != tt.learnt || k.DatabasePods != tt.set {
			t.Errorf("%s: learnt %q, knob %q; want %q, %q", tt.name, got, k.DatabasePods, tt.learnt, tt.set)
		}
	}
}
