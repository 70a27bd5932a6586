package doctor

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// address is where Harbor's live configuration sends it: a database or
// Redis host and port, and the first place that says so. It never holds
// credentials: Redis URLs lose their userinfo as they are read.
type address struct {
	engine   discover.Engine
	host     string
	port     int
	sentinel bool
	sources  []string // "ConfigMap myharbor-core key POSTGRESQL_HOST", ...
	users    []string // Redis usernames its URLs carry (never a password)
}

func (a address) String() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

// where names the places that configure the address, for messages.
func (a address) where() string {
	if len(a.sources) == 1 {
		return a.sources[0]
	}
	return fmt.Sprintf("%s and %d more", a.sources[0], len(a.sources)-1)
}

// Harbor's configuration keys for its database (core's environment).
const (
	envDBHost = "POSTGRESQL_HOST"
	envDBPort = "POSTGRESQL_PORT"
)

// addresses collects the database and Redis addresses of the release's
// configuration: core's POSTGRESQL_HOST and POSTGRESQL_PORT (an env value
// in the container wins over its ConfigMap's; through a database proxy,
// the proxy's DBPROXY_UPSTREAM), and every Redis URL and
// config file redis.addr the release reads (harbor's RedisSettings: its
// ConfigMaps, and its containers' env values, where post-render puts the
// URLs with the password as a $(VAR) reference). Same address, one entry.
func addresses(rel *harbor.Release, configMaps map[string]*corev1.ConfigMap) []address {
	rel = rel.WithConfig(configMapDocs(configMaps, len(rel.Docs)+1))
	var out []address
	add := func(a address) {
		for i := range out {
			if out[i].engine == a.engine && out[i].host == a.host && out[i].port == a.port && out[i].sentinel == a.sentinel {
				for _, src := range a.sources {
					if !slices.Contains(out[i].sources, src) {
						out[i].sources = append(out[i].sources, src)
					}
				}
				for _, u := range a.users {
					out[i].users = appendNew(out[i].users, u)
				}
				return
			}
		}
		out = append(out, a)
	}
	if core := rel.Workload("core"); core != nil {
		if a, ok := databaseAddress(core, rel.Sources()); ok {
			add(a)
		}
	}
	for _, s := range rel.RedisSettings() {
		for _, a := range redisAddresses(s) {
			add(a)
		}
	}
	return out
}

// configMapDocs are the live ConfigMaps as documents of the release, by
// name, numbered from pos.
func configMapDocs(configMaps map[string]*corev1.ConfigMap, pos int) []*manifest.Doc {
	var docs []*manifest.Doc
	for _, name := range harbor.SortedKeys(configMaps) {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(configMaps[name])
		if err != nil {
			continue // a typed ConfigMap always converts
		}
		d := &manifest.Doc{Pos: pos + len(docs), Obj: &unstructured.Unstructured{Object: m}}
		d.Obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
		docs = append(docs, d)
	}
	return docs
}

// databaseAddress reads core's database host and port: its database
// proxy's upstream when post-render put one beside it (core's own
// variables then say 127.0.0.1, the proxy on the pod's loopback).
func databaseAddress(core *harbor.Workload, sources *harbor.Sources) (address, bool) {
	if up, ok := core.ProxyUpstream(); ok {
		return address{engine: discover.PostgreSQL, host: strings.ToLower(up.Host), port: up.Port, sources: []string{up.Where}}, true
	}
	host, hostSrc := coreSetting(core, sources, envDBHost)
	if host == "" {
		return address{}, false
	}
	port := 5432
	if p, _ := coreSetting(core, sources, envDBPort); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return address{}, false
		}
		port = n
	}
	return address{engine: discover.PostgreSQL, host: strings.ToLower(host), port: port, sources: []string{hostSrc}}, true
}

// coreSetting is the value of one of core's environment variables: a
// literal env value, else a key of a ConfigMap it reads (the chart's way).
func coreSetting(core *harbor.Workload, sources *harbor.Sources, name string) (value, source string) {
	for _, c := range core.Template().Spec.Containers {
		for _, e := range c.Env {
			if e.Name == name && e.Value != "" {
				return e.Value, fmt.Sprintf("%s %s container %s env %s", core.Kind, core.Name(), c.Name, name)
			}
		}
	}
	for _, n := range core.ConfigMapNames() {
		if cm := sources.Get("ConfigMap", core.Namespace(), n); cm != nil && cm.Data[name] != "" {
			return cm.Data[name], "ConfigMap " + n + " key " + name
		}
	}
	return "", ""
}

// redisAddresses are the addresses a Redis setting names: the hosts of a
// URL, or a config file's redis.addr.
func redisAddresses(s harbor.RedisSetting) []address {
	if s.URL != nil {
		out := hostList(s.URL.Hosts, s.URL.Sentinel(), s.Use.Where())
		if u := s.URL.User; u != "" && !strings.Contains(u, "$(") {
			for i := range out {
				out[i].users = []string{u}
			}
		}
		return out
	}
	m := s.Mapping
	return hostList(m.Addrs, m.MasterSet != "", s.Use.Where()+" "+m.Path+".addr")
}

// hostList reads "h1:p1,h2:p2" (Sentinels) or "h:p"; a missing port is
// Redis's (6379) or Sentinel's (26379).
func hostList(hosts []string, sentinel bool, source string) []address {
	var out []address
	for _, hp := range hosts {
		hp = strings.TrimSpace(hp)
		if hp == "" || strings.Contains(hp, "$(") {
			continue
		}
		port := 6379
		if sentinel {
			port = 26379
		}
		host := hp
		if h, p, err := net.SplitHostPort(hp); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			host, port = h, n
		}
		out = append(out, address{engine: discover.Redis, host: strings.ToLower(host), port: port, sentinel: sentinel, sources: []string{source}})
	}
	return out
}

// serviceName reads an address given as a Service's DNS name: svc,
// svc.ns, svc.ns.svc or svc.ns.svc.<cluster domain>. ns is "" for a
// bare name; ok is false for an IP address.
func serviceName(host string) (name, ns string, ok bool) {
	if net.ParseIP(host) != nil {
		return "", "", false
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 2 && parts[2] != "svc" {
		return "", "", false // some other DNS name: not a Service
	}
	if len(parts) >= 2 {
		ns = parts[1]
	}
	return parts[0], ns, true
}
