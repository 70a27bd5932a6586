package lint

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
)

// chartConfigMaps are the ConfigMaps the chart's workloads read, each
// once, in stream order: the chart's configuration, not whatever else
// shares the stream. Hooks are not part of the running release.
func chartConfigMaps(rel *harbor.Release) ([]*harbor.Source, error) {
	seen := map[*harbor.Source]bool{}
	var out []*harbor.Source
	for _, w := range rel.Workloads {
		for _, name := range w.ConfigMapNames() {
			src, err := rel.Sources().Lookup("ConfigMap", w.Namespace(), name)
			if err != nil {
				return nil, err
			}
			if src == nil || src.Doc.Hook || seen[src] {
				continue
			}
			seen[src] = true
			out = append(out, src)
		}
	}
	// Stream order, so that findings do not depend on workload order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Doc.Pos < out[j].Doc.Pos })
	return out, nil
}

// hostName is an address without its port, lower case.
func hostName(addr string) string {
	h := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 && !strings.HasSuffix(addr, "]") {
		h = addr[:i]
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// redisUse is one place the release configures Redis: a chart ConfigMap
// key, or (after `helm harborha post-render --redis-password-secret`) a
// workload container's env value.
type redisUse struct {
	doc   *manifest.Doc
	where string // "ConfigMap x key K", "Deployment x container c env K"
	key   string // the data key or env name
	path  string // in a config file, the YAML path of the redis mapping
	url   *harbor.RedisURL

	configMap  bool     // in a ConfigMap (HA012's concern)
	password   bool     // the password is in the value, in plain text
	addrs      []string // a config file's redis.addr list
	masterSet  string   // a config file's redis.sentinelMasterSet
	configFile bool     // the use is a config file's redis mapping
}

// field names a field of the use for messages: "config.yml redis.password".
func (u redisUse) field(name string) string {
	if u.path == "" {
		return u.key
	}
	return u.key + " " + u.path + "." + name
}

// redisUses are the release's Redis settings (harbor's RedisSettings) in
// its ConfigMaps and env values. Secrets are left out: their values never
// reach a message (finish scrubs them), and a running release does not
// read hooks.
func redisUses(rel *harbor.Release) []redisUse {
	var out []redisUse
	for _, s := range rel.RedisSettings() {
		u := s.Use
		use := redisUse{where: u.Where(), key: u.Key}
		switch {
		case u.Source == nil:
			use.doc, use.key = u.Workload.Doc, u.Name
		case u.Source.Kind != "ConfigMap" || u.Source.Doc.Hook:
			continue
		default:
			use.doc, use.configMap = u.Source.Doc, true
		}
		if s.URL != nil {
			use.url, use.password = s.URL, s.URL.PlainPassword()
		}
		if m := s.Mapping; m != nil {
			use.path, use.password, use.addrs, use.masterSet, use.configFile = m.Path, m.Password != "", m.Addrs, m.MasterSet, true
		}
		out = append(out, use)
	}
	return out
}

// HA012
func checkRedisPlaintext(c *checker) {
	var order []*manifest.Doc
	keys := map[*manifest.Doc][]string{}
	example := map[*manifest.Doc]string{}
	for _, u := range c.redis {
		if !u.password || !u.configMap {
			continue
		}
		d := u.doc
		if _, ok := keys[d]; !ok {
			order = append(order, d)
		}
		if f := u.field("password"); !slices.Contains(keys[d], f) {
			keys[d] = append(keys[d], f)
		}
		if example[d] == "" && u.url != nil {
			example[d] = u.url.Redacted(output.Redacted)
		}
	}
	for _, d := range order {
		msg := fmt.Sprintf("the Redis password is in plain text in %s", strings.Join(keys[d], ", "))
		if example[d] != "" {
			msg += fmt.Sprintf(" (%s)", example[d])
		}
		c.report(d, "%s: whoever may read ConfigMaps in %s can read it", msg, namespaceOf(d))
	}
}

func namespaceOf(d *manifest.Doc) string {
	if ns := d.Obj.GetNamespace(); ns != "" {
		return "namespace " + ns
	}
	return "the release's namespace"
}

// HA011
func checkRedisCluster(c *checker) {
	sharded := shardedRedisClusters(c.docs)
	type hit struct {
		first redisUse
		also  []string
	}
	var reasons []string
	hits := map[string]*hit{}
	note := func(u redisUse, reason string) {
		if h, ok := hits[reason]; ok {
			if w := u.where; w != h.first.where && !slices.Contains(h.also, w) {
				h.also = append(h.also, w)
			}
			return
		}
		reasons = append(reasons, reason)
		hits[reason] = &hit{first: u}
	}
	for _, u := range c.redis {
		if u.url == nil {
			continue
		}
		if len(u.url.Hosts) > 1 && !u.url.Sentinel() {
			note(u, fmt.Sprintf("it lists %d Redis nodes (%s) without Sentinel, the way a Redis Cluster is addressed", len(u.url.Hosts), strings.Join(u.url.Hosts, ", ")))
		}
		for _, h := range u.url.Hosts {
			name := hostName(h)
			if strings.Contains(name, "redis-cluster") {
				note(u, fmt.Sprintf("its host %s is named like a Redis Cluster Service (as Bitnami's redis-cluster chart names it)", name))
			}
			if kb := sharded.match(name, u.doc.Obj.GetNamespace()); kb != "" {
				note(u, fmt.Sprintf("its host %s belongs to KubeBlocks Cluster %s, which is sharded (Redis Cluster)", name, kb))
			}
		}
	}
	for _, r := range reasons {
		h := hits[r]
		msg := fmt.Sprintf("%s points Harbor at Redis %s, but %s: Harbor supports one Redis primary or Sentinel, not Redis Cluster", h.first.key, h.first.url.Redacted(output.Redacted), r)
		if len(h.also) > 0 {
			msg += fmt.Sprintf(" (also in %s)", strings.Join(h.also, "; "))
		}
		c.report(h.first.doc, "%s", msg)
	}
}

// kbClusters are the sharded KubeBlocks Redis clusters of the stream
// (rendered together with Harbor, as an umbrella chart does).
type kbClusters []struct{ namespace, name string }

func shardedRedisClusters(docs []*manifest.Doc) kbClusters {
	var out kbClusters
	for _, d := range docs {
		id := d.ID()
		if id.Group != "apps.kubeblocks.io" || id.Kind != "Cluster" {
			continue
		}
		spec, _, _ := unstructured.NestedMap(d.Obj.Object, "spec")
		sharded := false
		for _, f := range []string{"shardings", "shardingSpecs"} {
			if l, ok := spec[f].([]any); ok && len(l) > 0 {
				sharded = true
			}
		}
		if t, _ := spec["topology"].(string); t == "cluster" {
			sharded = true
		}
		if comps, ok := spec["componentSpecs"].([]any); ok {
			for _, cs := range comps {
				if m, ok := cs.(map[string]any); ok {
					if def, _ := m["componentDef"].(string); strings.HasPrefix(def, "redis-cluster") {
						sharded = true
					}
				}
			}
		}
		if sharded {
			out = append(out, struct{ namespace, name string }{id.Namespace, id.Name})
		}
	}
	return out
}

// match returns "ns/name" of the cluster a host name (a Service, or
// <service>.<namespace>[.svc...]) belongs to: KubeBlocks names every Service
// <cluster>-<component>[-...].
func (k kbClusters) match(host, defaultNS string) string {
	labels := strings.Split(host, ".")
	ns := defaultNS
	if len(labels) > 1 {
		ns = labels[1]
	}
	for _, c := range k {
		if labels[0] != c.name && !strings.HasPrefix(labels[0], c.name+"-") {
			continue
		}
		if c.namespace != "" && ns != "" && c.namespace != ns {
			continue
		}
		if c.namespace == "" {
			return c.name
		}
		return c.namespace + "/" + c.name
	}
	return ""
}

// HA013
func checkRegistrySentinel(c *checker) {
	var sentinelURL *redisUse
	for i, u := range c.redis {
		if u.url != nil && u.url.Sentinel() {
			sentinelURL = &c.redis[i]
			break
		}
	}
	if sentinelURL == nil {
		return
	}
	for _, u := range c.redis {
		if !u.configFile || len(u.addrs) < 2 || u.masterSet != "" {
			continue
		}
		c.report(u.doc, "%s lists %d Redis addresses (%s) but there is no %s, while %s uses Sentinel (%s://): the registry cannot reach Redis", u.field("addr"), len(u.addrs), strings.Join(u.addrs, ", "), u.field("sentinelMasterSet"), sentinelURL.where, sentinelURL.url.Scheme)
	}
}

// HA018: the registry of a chart before 1.19 cannot log in as the Redis
// user the other components use (harbor.RegistryUserGaps).
func checkRegistryRedisUser(c *checker) {
	for _, g := range c.model.RegistryUserGaps("") {
		c.report(g.Registry.Source.Doc, "%s has no redis.username while the release's other components log in to Redis as user %q: this chart's registry (before chart 1.19, Harbor 2.15) logs in as \"default\" with %s's password, is refused (WRONGPASS) and serves without its Redis cache (goharbor/harbor#18892)",
			g.Registry.Where(), g.User, g.User)
	}
}

// HA010
func checkExternalURL(c *checker) {
	for _, w := range c.model.Workloads {
		if w.Component != "core" {
			continue
		}
		for _, cm := range c.configMaps {
			if cm.Doc.Obj.GetNamespace() != w.Namespace() || !slices.Contains(w.ConfigMapNames(), cm.Name()) {
				continue
			}
			ext, ok := cm.Data["EXT_ENDPOINT"]
			if !ok {
				continue
			}
			u, err := url.Parse(ext)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				c.report(cm.Doc, "EXT_ENDPOINT (externalURL) is %q, not an absolute http:// or https:// URL", ext)
			case u.Path != "" && u.Path != "/":
				c.report(cm.Doc, "EXT_ENDPOINT (externalURL) is %s, with path %s: the chart serves Harbor only at a domain root, so clients following Harbor's own links and token URLs miss the path", redactURL(u), u.Path)
			case u.RawQuery != "" || u.Fragment != "":
				c.report(cm.Doc, "EXT_ENDPOINT (externalURL) is %s, with a query or fragment: Harbor appends paths to it and would produce broken links", redactURL(u))
			}
		}
	}
}

// redactURL writes a URL without its password, if it has one.
func redactURL(u *url.URL) string {
	c := *u
	if _, has := c.User.Password(); has {
		c.User = url.UserPassword(c.User.Username(), output.Redacted)
	}
	return c.String()
}
