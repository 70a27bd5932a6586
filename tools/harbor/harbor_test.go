// Package harbor holds the process-level proof that the Harbor images built
// from source (make harbor-images: bin/images/<name>/rootfs) really run:
// nginx, the portal, core, jobservice, the registry, registryctl and the
// trivy adapter, started from their image root filesystems as plain
// processes (no container runtime, no chroot) on the configuration the
// goharbor chart 1.19.1 renders, against a throwaway PostgreSQL and Redis.
// An image pushed through the chart's nginx pulls back with the same
// digest. The end-to-end test on a real node relies on all of this; here
// it shows without the node.
package harbor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// adminPassword is the chart's harborAdminPassword default.
const adminPassword = "Harbor12345"

func TestPushPullThroughNginx(t *testing.T) {
	h := startHarbor(t)

	// Push a random image through the chart's front door (nginx -> core's
	// token service and /v2/ -> registry) as admin, pull it back, read
	// every blob.
	ref, err := name.ParseReference(fmt.Sprintf("%s/library/harborha-smoke:%d", h.host("nginx"), time.Now().UnixNano()), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	pushed, _ := img.Digest()
	pulled, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != pushed {
		t.Fatalf("pulled %s as %s, pushed %s", ref, got, pushed)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verified against its digest while read
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("reading a layer of %s: %v", ref, err)
		}
		rc.Close()
	}
	t.Logf("pushed %s %s, pulled %s (%d layers read back)", ref, pushed, got, len(layers))

	// Each component uses Redis with the password: core's sessions and
	// caches (database 0), jobservice's queues (1), the registry's blob
	// descriptor cache (2).
	for _, db := range []struct {
		index int
		whose string
	}{{0, "core"}, {1, "jobservice"}, {2, "registry"}} {
		n := h.redis.keys(t, db.index)
		if n == 0 {
			t.Errorf("Redis database %d (%s) holds no key after the push", db.index, db.whose)
		}
		t.Logf("Redis database %d (%s): %d keys", db.index, db.whose, n)
	}

	// The exporter reads the database (projects) and jobservice's queues
	// in Redis.
	var metrics string
	waitFor(t, "the exporter's metrics", h.procs, func() error {
		body, err := fetch(h.url("exporter") + "/metrics")
		metrics = string(body)
		return err
	})
	for _, m := range []string{"harbor_project_total", "harbor_task_queue_size"} {
		if !strings.Contains(metrics, "\n"+m+"{") {
			t.Errorf("the exporter's /metrics has no %s", m)
		}
	}

	// The portal answers through nginx (a placeholder page: the image
	// holds no Angular build).
	if err := get(h.url("nginx")+"/", nil); err != nil {
		t.Errorf("the portal through nginx: %v", err)
	}

	// A scan reaches the trivy adapter and ends; without the trivy CLI in
	// the image (and its database, unreachable here) it ends in Error.
	status := h.scan(t, "library", "harborha-smoke", pushed)
	if status != "Error" {
		t.Errorf("scan of %s ended %q; without the trivy CLI in the image it ends \"Error\" (docs/harbor-from-source.md)", pushed, status)
	}
	t.Logf("scan of %s through core, jobservice and the trivy adapter: %s", pushed, status)
}

// imagesDir is bin/images (HARBORHA_IMAGES), holding the images this
// test runs.
func imagesDir(t *testing.T) string {
	t.Helper()
	testutil.SkipShort(t, "the Harbor images")
	dir := os.Getenv("HARBORHA_IMAGES")
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(), "bin", "images")
	}
	for _, image := range harborImages {
		if _, err := os.Stat(filepath.Join(dir, image, "config.json")); err != nil {
			testutil.Missing(t, "Harbor image %s in %s (run `make harbor-images`, or set HARBORHA_IMAGES)", image, dir)
		}
	}
	return dir
}

// scan asks core to scan an artifact and waits until the scan has ended;
// it returns the vulnerability scan's last status.
func (h *harbor) scan(t *testing.T, project, repo string, digest v1.Hash) string {
	t.Helper()
	artifact := fmt.Sprintf("%s/api/v2.0/projects/%s/repositories/%s/artifacts/%s", h.url("nginx"), project, repo, digest)
	if code, body := h.api(t, http.MethodPost, artifact+"/scan"); code != http.StatusAccepted {
		t.Fatalf("POST %s/scan: %d %s", artifact, code, body)
	}
	var status string
	waitFor(t, "the scan of "+digest.String(), h.procs, func() error {
		code, body := h.api(t, http.MethodGet, artifact+"?with_scan_overview=true")
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", artifact, code, body)
		}
		var a struct {
			ScanOverview map[string]struct {
				ScanStatus string `json:"scan_status"`
			} `json:"scan_overview"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		for _, o := range a.ScanOverview {
			status = o.ScanStatus
		}
		switch status {
		case "Success", "Error", "Stopped":
			return nil
		}
		return fmt.Errorf("scan status %q", status)
	})
	return status
}

// api sends an API request as admin and returns the status and body.
func (h *harbor) api(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}
