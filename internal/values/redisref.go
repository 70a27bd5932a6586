package values

import (
	"fmt"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
)

// RedisRef is where Harbor's pods read the Redis password: a Secret key in
// Harbor's namespace, handed to the post-renderer (--redis-password-secret,
// --redis-username), which turns every Redis credential the chart writes
// into a reference to it.
type RedisRef struct {
	Secret   string `json:"secret"`
	Key      string `json:"key"`
	Username string `json:"username,omitempty"` // the ACL user, "" for none
}

// Args are the post-render knobs.
func (r RedisRef) Args() []string {
	args := []string{"--redis-password-secret=" + r.Secret + ":" + r.Key}
	if r.Username != "" {
		args = append(args, "--redis-username="+r.Username)
	}
	return args
}

// DiscoveredRedis is the KubeBlocks account Secret (key "password") as the
// reference, when it is in Harbor's namespace (a pod reads no other) and
// its password survives being inserted into a URL unescaped. The username
// is the account's when the chart passes usernames (1.12 and later).
func DiscoveredRedis(r *discover.Result, namespace string, chart Chart) (RedisRef, error) {
	rd := r.Redis
	if rd == nil {
		return RedisRef{}, fmt.Errorf("discovery found no Redis cluster")
	}
	if rd.Namespace != namespace {
		return RedisRef{}, elsewhere("Redis", rd, namespace, "a copy of its credential, or a user of Harbor's own (--redis-user)")
	}
	what := fmt.Sprintf("the password in Secret %s/%s key %q", rd.Namespace, rd.Secret, "password")
	if err := harbor.CheckRedisCredential(what, rd.Password.Reveal()); err != nil {
		return RedisRef{}, err
	}
	ref := RedisRef{Secret: rd.Secret, Key: "password"}
	if chart.RedisUsername {
		ref.Username = rd.Username
	}
	return ref, nil
}
