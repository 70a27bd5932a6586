package lint

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/output"
)

// credentialName matches env names that hold credentials.
var credentialName = regexp.MustCompile(`(?i)PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL`)

// dbURL finds PostgreSQL URLs (with userinfo) inside a value.
var dbURL = regexp.MustCompile(`postgres(?:ql)?://[^\s"'<>@/]*:([^\s"'<>@/]+)@`)

// HA014
func checkEnvCredentials(c *checker) {
	for _, w := range c.model.Workloads {
		for _, ct := range w.Containers() {
			for _, e := range ct.Env {
				if e.ValueFrom != nil || e.Value == "" {
					continue
				}
				if why := inlineCredential(e.Name, e.Value); why != "" {
					c.report(w.Doc, "container %s has %s in plain text in env %s: whoever may read the %s's spec (get %ss, or the pods) can read it", ct.Name, why, e.Name, w.Kind, strings.ToLower(w.Kind))
				}
			}
		}
	}
}

// inlineCredential says what credential an env value holds literally
// ("the Redis password", "a password"), or "". A value that is one
// $(VAR) reference, or a file path, holds none.
func inlineCredential(name, value string) string {
	for _, u := range harbor.RedisURLsIn(value) {
		if u.PlainPassword() {
			return fmt.Sprintf("the Redis password (%s)", u.Redacted(output.Redacted))
		}
	}
	for _, m := range dbURL.FindAllStringSubmatch(value, -1) {
		if !harbor.IsReference(m[1]) {
			return "a database password in a URL"
		}
	}
	if credentialName.MatchString(name) && !harbor.IsReference(value) && !strings.HasPrefix(value, "/") && !harbor.IsRedisURL(value) {
		return "a credential"
	}
	return ""
}
