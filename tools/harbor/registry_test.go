package harbor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRegistryRedisUserIgnored pins issue 20's known disagreement: this
// registry (goharbor/distribution release/2.8 at ea065fef) has no Redis user
// name (configuration.go's Redis struct), so with chart 1.19's
// redis.external.username set to an ACL user it sends AUTH with that user's
// password alone, as the default user: WRONGPASS on every connection, no
// blob descriptor cache, while pushes and pulls still work. When a registry
// that logs in as the user replaces this one, this test fails: then what
// helm-harborha does about --redis-user can change.
func TestRegistryRedisUserIgnored(t *testing.T) {
	h := renderHarbor(t, freePort(t), "harbor")
	h.redis.aclUser(t, "harbor")
	registry := h.registry().start(t, accountFor(t, harborUID, harborUID), h.work)
	waitFor(t, "the registry", []*running{registry}, func() error {
		_, err := fetch(h.url("registry") + "/")
		return err
	})

	// The chart's registry credentials (values registry.credentials),
	// which core uses; no core here.
	ref, err := name.ParseReference(h.host("registry")+"/library/acl-user:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "harbor_registry_user", Password: "harbor_registry_password"})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	pulled, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	pushed, _ := img.Digest()
	if got, _ := pulled.Digest(); got != pushed {
		t.Fatalf("pulled %s as %s, pushed %s", ref, got, pushed)
	}

	if n := h.redis.keys(t, 2); n != 0 {
		t.Errorf("the registry wrote %d keys into Redis database 2 as the ACL user: it logs in with a user name now", n)
	}
	log, err := os.ReadFile(filepath.Join(h.work, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	const wrongpass = "WRONGPASS invalid username-password pair or user is disabled"
	if !strings.Contains(string(log), wrongpass) {
		t.Errorf("the registry's log has no %q", wrongpass)
	}
	t.Logf("pushed and pulled %s through the registry alone; Redis database 2 empty; its log: %q", pushed, wrongpass)
}
