package values_test

// Server-side validation of what we ship: the real goharbor chart rendered
// with the overlay `harborha values` generates against the real API server,
// post-rendered into the HA topology (shared RWX claim, hard
// anti-affinity), then sent object by object to kube-apiserver as a
// server-side dry run with strict field validation.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/testutil"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func TestE2EChartWithOverlayPassesServerSideValidation(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	env.EnsureNode(t, "node-a", "192.0.2.10")
	env.EnsureNamespace(t, "harbor")
	env.Create(t, "harbor", kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	dbNS := env.Namespace(t, "kubeblocks")
	env.Create(t, dbNS, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)

	// The overlay, as a user makes it: Harbor in "harbor" (where
	// testutil.HelmTemplate renders), with the clusters.
	overlay := filepath.Join(t.TempDir(), "kubeblocks-values.yaml")
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	values := func(wantCode int, args ...string) string {
		t.Helper()
		procEnv := append(os.Environ(), testutil.IsolatedHelmEnv(t)...)
		_, stderr := testutil.Exec(t, procEnv, wantCode, testutil.Harborha(t), append([]string{"values", "--kubeconfig", env.Kubeconfig, "-n", "harbor", "--chart", chart, "-o", overlay}, args...)...)
		return stderr
	}
	// Clusters in another namespace: their Secrets are out of the pods'
	// reach, and no password is written instead.
	if stderr := values(1, "--pg-namespace", dbNS, "--redis-namespace", dbNS); !strings.Contains(stderr, "is not in Harbor's namespace") {
		t.Errorf("clusters elsewhere: %s", stderr)
	}
	stderr := values(0)
	knobs := postrender.DefaultKnobs()
	for _, f := range strings.Fields(stderr) {
		if v, ok := strings.CutPrefix(f, "--redis-password-secret="); ok {
			knobs.RedisPasswordSecret = v
		}
		if v, ok := strings.CutPrefix(f, "--redis-username="); ok {
			knobs.RedisUsername = v
		}
	}
	if knobs.RedisPasswordSecret != "myredis-redis-account-default:password" || knobs.RedisUsername != "default" {
		t.Fatalf("values printed no post-render knobs for the Redis Secret:\n%s", stderr)
	}

	rendered := testutil.HelmTemplate(t, chart, []string{overlay})
	opts := knobs
	opts.SharedPVC, opts.CreateSharedPVC, opts.AntiAffinity = "harbor-shared", true, postrender.AntiAffinityHard
	var warnings bytes.Buffer
	r, err := postrender.New(opts, &warnings)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(bytes.NewBuffer(rendered))
	if err != nil {
		t.Fatalf("post-render: %v", err)
	}
	objs, err := kubetest.Decode(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}

	// What must be there for the test to mean anything: the workloads the
	// overlay and the post-renderer shape, and the external services.
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() == "StatefulSet" && (strings.HasSuffix(o.GetName(), "-database") || strings.HasSuffix(o.GetName(), "-redis")) {
			t.Errorf("%s %s rendered: the overlay did not switch to external PostgreSQL/Redis", o.GetKind(), o.GetName())
		}
	}
	if kinds["Deployment"] < 5 || kinds["PersistentVolumeClaim"] != 1 || kinds["Service"] == 0 {
		t.Fatalf("unexpected render (kinds %v): the dry run would prove little", kinds)
	}
	if !bytes.Contains(out.Bytes(), []byte("requiredDuringSchedulingIgnoredDuringExecution")) || !bytes.Contains(out.Bytes(), []byte("claimName: harbor-shared")) ||
		!bytes.Contains(out.Bytes(), []byte("$(HARBORHA_REDIS_PASSWORD)@")) {
		t.Fatal("the post-render options did not apply")
	}
	for _, pw := range []string{"k9P3m2X5t1", "Q5w1E3r9T7"} { // the fixture's
		if bytes.Contains(out.Bytes(), []byte(pw)) {
			t.Error("a password is in the rendered release")
		}
	}

	errs := env.DryRunCreate(context.Background(), "harbor", objs)
	for i, err := range errs {
		if err != nil {
			t.Errorf("rejected by the API server: %s %s: %v", objs[i].GetKind(), objs[i].GetName(), err)
		}
	}
	t.Logf("%d objects accepted by kube-apiserver %s (dryRun=All, fieldValidation=Strict): %v", len(objs), env.Server, kinds)
}
