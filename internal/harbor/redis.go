package harbor

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// RedisURL is a Redis URL as the chart writes it: scheme redis, rediss,
// redis+sentinel or rediss+sentinel, optional user:password, one address
// or a comma-separated list (Sentinels), then /db or /master/db and a
// query (_helpers.tpl "harbor.redis.url*", chart 1.14-1.19).
type RedisURL struct {
	Scheme   string
	User     string // decoded
	Password string // decoded; "" when there is none
	Hosts    []string
	Rest     string // from the first / or ? after the addresses
}

// redisScheme is how every Redis URL of the chart starts.
var redisScheme = regexp.MustCompile(`^rediss?(\+sentinel)?://`)

// IsRedisURL reports whether a whole value is a Redis URL.
func IsRedisURL(s string) bool { return redisScheme.MatchString(s) }

// ParseRedisURL reads a whole value as a Redis URL; ok is false when it
// is none (another scheme, or no address). It splits by hand: Go's
// url.Parse refuses the comma-separated host lists Sentinel URLs carry.
func ParseRedisURL(s string) (RedisURL, bool) {
	if !IsRedisURL(s) {
		return RedisURL{}, false
	}
	scheme, rest, _ := strings.Cut(s, "://")
	u := RedisURL{Scheme: strings.ToLower(scheme)}
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, u.Rest = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		user, pw, _ := strings.Cut(userinfo, ":")
		u.User, u.Password = unescape(user), unescape(pw)
	}
	for _, h := range strings.Split(authority, ",") {
		if h = strings.TrimSpace(h); h != "" {
			u.Hosts = append(u.Hosts, h)
		}
	}
	return u, len(u.Hosts) > 0
}

// RedisURLsIn finds the Redis URLs inside a text (an env value, a line
// of a config file): each runs from its scheme to the first space, quote
// or angle bracket.
func RedisURLsIn(text string) []RedisURL {
	var out []RedisURL
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], "redis")
		if j < 0 {
			break
		}
		start := i + j
		m := redisScheme.FindStringIndex(text[start:])
		end := start
		if m != nil {
			end += m[1]
			for end < len(text) && strings.IndexByte(" \t\n\f\r\"'<>", text[end]) < 0 {
				end++
			}
		}
		if m == nil || end == start+m[1] { // no scheme here, or nothing after it
			i = start + 1
			continue
		}
		if u, ok := ParseRedisURL(text[start:end]); ok {
			out = append(out, u)
		}
		i = end
	}
	return out
}

// IsReference reports whether a value is one Kubernetes $(VAR) reference
// and nothing else, as a credential must be to stay out of the pod spec.
// "$(A)x$(B)" is not: the kubelet expands it to A's value, "x" and B's,
// a credential partly written in the spec. "$$(A)" is the text "$(A)",
// and "$()" names no variable.
func IsReference(s string) bool {
	name, ok := strings.CutPrefix(s, "$(")
	if !ok {
		return false
	}
	name, ok = strings.CutSuffix(name, ")")
	return ok && name != "" && !strings.ContainsAny(name, "$()")
}

// PlainPassword reports whether the URL holds a password written out, not
// a $(VAR) reference to one.
func (u RedisURL) PlainPassword() bool { return u.Password != "" && !IsReference(u.Password) }

func unescape(s string) string {
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

// Sentinel reports whether the URL goes through Redis Sentinel.
func (u RedisURL) Sentinel() bool { return strings.HasSuffix(u.Scheme, "+sentinel") }

// WithoutPassword is the URL with its user (escaped) but no password.
func (u RedisURL) WithoutPassword() string {
	user := ""
	if u.User != "" {
		user = url.User(u.User).String() + "@"
	}
	return u.Scheme + "://" + user + strings.Join(u.Hosts, ",") + u.Rest
}

// Redacted writes the URL with the password replaced by redacted.
func (u RedisURL) Redacted(redacted string) string {
	cred := ""
	switch {
	case u.Password != "":
		cred = u.User + ":" + redacted + "@"
	case u.User != "":
		cred = u.User + "@"
	}
	return u.Scheme + "://" + cred + strings.Join(u.Hosts, ",") + u.Rest
}

// safeCredential is what a Redis user name or password may hold so that
// it reaches Harbor unchanged on every path: raw inside a URL's userinfo
// (Kubernetes' $(VAR) expansion inserts it unescaped, and Harbor, trivy
// and jobservice parse the URL with url.Parse), and YAML-decoded by the
// registry (distribution's configuration/parser.go L207 yaml.Unmarshals
// every REGISTRY_* value). KubeBlocks' generated passwords (letters and
// digits) and bootstrap's (base32) are safe.
var safeCredential = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckRedisCredential says why a Redis user name or password cannot be
// referenced from a Secret, or nil. what names it in the message ("the
// password in Secret harbor/x key password"); the value is never shown.
func CheckRedisCredential(what, value string) error {
	if value == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if !safeCredential.MatchString(value) || strings.EqualFold(value, "null") {
		return fmt.Errorf("%s holds characters other than letters, digits, '.', '_' and '-' (or is a YAML null): Kubernetes inserts it unescaped into Harbor's Redis URLs, where '@', '/', ':', '%%' and the like break them; give the account such a password, or use `helm harborha bootstrap --redis-user` (a user of Harbor's own with a generated password)", what)
	}
	return nil
}
