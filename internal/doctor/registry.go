package doctor

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/harborha/helm-harborha/internal/kube"
)

// The registry uses Redis only as a cache (blob descriptors). When Redis
// refuses its login it serves on without it, and says so only in its log
// ("redis: error connecting: WRONGPASS ..."): nothing fails, so no other
// check can see it. Seen on the real node with a registry that has no
// Redis user name and Harbor's own ACL user (goharbor/harbor#18892), and
// possible with any stale password.

// registryLogLines is how much of each registry container's log is read:
// a refused login shows at the first cache lookup and on every new
// pooled connection after it.
const registryLogLines = 500

// refusal finds the registry's Redis login failures in its log.
var refusal = regexp.MustCompile(`redis: error connecting: .*(WRONGPASS|NOAUTH|NOPERM|invalid password)|(WRONGPASS|NOAUTH) `)

// registryMessage is the message of a logrus line (msg="...").
var registryMessage = regexp.MustCompile(`msg="((?:[^"\\]|\\.)*)"`)

// registryRedis checks that the registry can log in to Redis: its live
// configuration (a chart before 1.19 cannot give it the user the others
// log in as), then its running pods' logs (one request per pod).
func (k *checker) registryRedis(ctx context.Context) {
	w := k.rel.Workload("registry")
	if w == nil {
		return
	}
	const subject, check = "registry", "redis"
	fix := "use chart 1.19 or later (Harbor 2.15's registry logs in as the Redis user), or let Harbor log in with the cluster's account (helm harborha upgrade without --redis-user); with a stale password, restart the registry pods"
	var gap string
	withConfig := k.rel.WithConfig(configMapDocs(k.l.configMapsByName(), len(k.rel.Docs)+1))
	for _, g := range withConfig.RegistryUserGaps("") {
		gap = fmt.Sprintf("; its config (%s) has no redis.username while the other components log in as user %q: a registry before Harbor 2.15's logs in as \"default\" with that user's password (goharbor/harbor#18892)", g.Registry.Where(), g.User)
	}
	container := registryContainer(w.Template().Spec.Containers)
	var read []string
	for _, p := range podsOf(w, k.l.pods) {
		if container == "" || !placed(&p) || p.Status.Phase != corev1.PodRunning {
			continue
		}
		lines := int64(registryLogLines)
		b, err := k.c.Typed.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container, TailLines: &lines}).DoRaw(ctx)
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			k.r.unchecked(subject, check, k.c.Explain(err, kube.Op{Verb: "get", Resource: "pods/log", Namespace: p.Namespace}))
			return
		case err != nil:
			// The kubelet could not serve it (a node going away, a
			// container restarting): the next pod may say.
			continue
		}
		if line := lastRefusal(string(b)); line != "" {
			k.r.finding(subject, check, fix, "pod %s logs %q: Redis refuses the registry's login, so it serves without its cache%s", p.Name, line, gap)
			return
		}
		read = append(read, p.Name)
	}
	if gap != "" {
		k.r.finding(subject, check, fix, "the registry will be refused by Redis (WRONGPASS) and serve without its cache%s", gap)
		return
	}
	if len(read) > 0 {
		k.r.ok(subject, check, "no refused Redis login in the last %d log lines of %s", registryLogLines, strings.Join(read, ", "))
	}
}

// registryContainer is the container that runs the registry (the chart
// names it "registry"; registryctl runs beside it).
func registryContainer(cs []corev1.Container) string {
	for _, c := range cs {
		if c.Name == "registry" {
			return c.Name
		}
	}
	return ""
}

// lastRefusal is the message of the log's last refused Redis login, or "".
func lastRefusal(log string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !refusal.MatchString(l) {
			continue
		}
		if m := registryMessage.FindStringSubmatch(l); m != nil {
			return strings.ReplaceAll(m[1], `\"`, `"`)
		}
		return strings.TrimSpace(l)
	}
	return ""
}
