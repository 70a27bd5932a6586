package harbor

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
)

// The database proxy sidecar (post-render --database-proxy-image): a
// native sidecar, the first init container of each workload that opens a
// database pool, which the process reaches on the pod's loopback and which
// reaches the database; its names and environment are package contract's.

// DefaultDatabasePort and DefaultSSLMode are what a process uses when its
// variables leave them unset (Harbor's defaults, and libpq's port).
const (
	DefaultDatabasePort = 5432
	DefaultSSLMode      = "disable"
)

// DatabaseProxy is the workload's database proxy sidecar and its index in
// initContainers, or nil and -1.
func (w *Workload) DatabaseProxy() (*corev1.Container, int) {
	spec := &w.Template().Spec
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == contract.Container {
			return &spec.InitContainers[i], i
		}
	}
	return nil, -1
}

// DatabaseAddress is where a process's connections reach PostgreSQL.
type DatabaseAddress struct {
	// Host and Port are the database's (the first upstream's, when a
	// proxy lists several).
	Host string
	Port int
	// Upstream is the address as DBPROXY_UPSTREAM gives it:
	// host:port[,host:port...].
	Upstream string
	SSLMode  string
	// Where is the first place that says so: "ConfigMap myharbor-core key
	// POSTGRESQL_HOST", or the proxy's DBPROXY_UPSTREAM.
	Where string
	// FromProxy: read from a proxy sidecar's environment (the process
	// itself connects to the proxy on the pod's loopback).
	FromProxy bool
}

// ProxyUpstream is what the workload's database proxy forwards to; ok is
// false without a proxy, or with one whose DBPROXY_UPSTREAM is not a
// literal host:port list.
func (w *Workload) ProxyUpstream() (DatabaseAddress, bool) {
	c, _ := w.DatabaseProxy()
	if c == nil {
		return DatabaseAddress{}, false
	}
	up, ok := literalEnv(c.Env, contract.EnvUpstream)
	if !ok {
		return DatabaseAddress{}, false
	}
	first, _, _ := strings.Cut(up, ",")
	host, port, err := net.SplitHostPort(strings.TrimSpace(first))
	if err != nil || host == "" {
		return DatabaseAddress{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return DatabaseAddress{}, false
	}
	ssl, ok := literalEnv(c.Env, contract.EnvSSLMode)
	if !ok || ssl == "" {
		ssl = DefaultSSLMode
	}
	return DatabaseAddress{Host: host, Port: n, Upstream: up, SSLMode: ssl, FromProxy: true,
		Where: w.Kind + " " + w.Name() + " init container " + c.Name + " env " + contract.EnvUpstream}, true
}

// literalEnv is the value of the last env entry named name, if that entry
// is a literal value.
func literalEnv(env []corev1.EnvVar, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if env[i].Name == name {
			return env[i].Value, env[i].ValueFrom == nil
		}
	}
	return "", false
}

// Sibling is the workload of component in w's release (its namespace and
// release label), w itself for its own component, or nil.
func (r *Release) Sibling(w *Workload, component string) *Workload {
	if w.Component == component {
		return w
	}
	for _, o := range r.Workloads {
		if o.Component == component && o.Namespace() == w.Namespace() && o.Release() == w.Release() {
			return o
		}
	}
	return nil
}

// DatabaseUpstream is the database w's process (core, jobservice or
// exporter) works on: what its proxy sidecar forwards to when it has one
// (the process then connects to the proxy: its own variables say
// 127.0.0.1), else what the variables it reads say (core's for
// jobservice, which takes them over core's config API; a core that is
// proxied gives its proxy's upstream). ok is false when w opens no pool,
// or its host is unset or not in the stream, or a port or sslmode is set
// where the stream does not show it.
func (r *Release) DatabaseUpstream(w *Workload) (DatabaseAddress, bool) {
	p, ok := PoolOf(w.Component)
	if !ok {
		return DatabaseAddress{}, false
	}
	if a, ok := w.ProxyUpstream(); ok {
		return a, true
	}
	reads := r.Sibling(w, p.Reads)
	if reads == nil {
		return DatabaseAddress{}, false
	}
	if a, ok := reads.ProxyUpstream(); ok {
		return a, true
	}
	sources := r.Sources()
	host, ok := reads.EnvOrigin(sources, p.Reads, p.Host)
	if !ok || !host.Known || host.Value == "" {
		return DatabaseAddress{}, false
	}
	port := DefaultDatabasePort
	if o, set := reads.EnvOrigin(sources, p.Reads, p.Port); set && (!o.Known || o.Value != "") {
		n, err := strconv.Atoi(strings.TrimSpace(o.Value))
		if !o.Known || err != nil || n < 1 || n > 65535 {
			return DatabaseAddress{}, false
		}
		port = n
	}
	ssl := DefaultSSLMode
	if o, set := reads.EnvOrigin(sources, p.Reads, p.SSLMode); set {
		if !o.Known {
			return DatabaseAddress{}, false
		}
		if o.Value != "" {
			ssl = o.Value
		}
	}
	return DatabaseAddress{Host: host.Value, Port: port, Upstream: net.JoinHostPort(host.Value, strconv.Itoa(port)), SSLMode: ssl, Where: host.Where}, true
}

// DatabasePassword is where w's process gets its database password: the
// pool's password variable in the container that reads the pool's
// settings (core's for jobservice). ok is false when w opens no pool or
// nothing sets the variable.
func (r *Release) DatabasePassword(w *Workload) (EnvOrigin, bool) {
	p, ok := PoolOf(w.Component)
	if !ok {
		return EnvOrigin{}, false
	}
	reads := r.Sibling(w, p.Reads)
	if reads == nil {
		return EnvOrigin{}, false
	}
	return reads.EnvOrigin(r.Sources(), p.Reads, p.Password)
}

// EnvOrigin is where a container's variable gets its value, as the
// kubelet resolves it.
type EnvOrigin struct {
	// Value is the value, when Known: a literal env value, or the key of
	// a ConfigMap or Secret the stream renders.
	Value string
	Known bool
	// Secret is the Secret key that gives the value (env valueFrom
	// secretKeyRef, or envFrom a Secret); nil for a literal, a ConfigMap
	// or a field reference.
	Secret *corev1.SecretKeySelector
	// Where names it: "Secret myharbor-core key POSTGRESQL_PASSWORD",
	// "Deployment myharbor-core container core env POSTGRESQL_HOST".
	Where string
}

// EnvOrigin finds where the container's variable comes from: its last env
// entry of that name, else the last envFrom source (of those the stream
// renders: another may hold any key) that has the key. ok is false when
// nothing sets it.
func (w *Workload) EnvOrigin(sources *Sources, container, name string) (EnvOrigin, bool) {
	ns := w.Namespace()
	for _, c := range w.Template().Spec.Containers {
		if c.Name != container {
			continue
		}
		for i := len(c.Env) - 1; i >= 0; i-- {
			e := c.Env[i]
			if e.Name != name {
				continue
			}
			switch vf := e.ValueFrom; {
			case vf == nil:
				return EnvOrigin{Value: e.Value, Known: true, Where: w.Kind + " " + w.Name() + " container " + c.Name + " env " + name}, true
			case vf.SecretKeyRef != nil:
				o := EnvOrigin{Secret: vf.SecretKeyRef.DeepCopy(), Where: "Secret " + vf.SecretKeyRef.Name + " key " + vf.SecretKeyRef.Key}
				o.Value, o.Known = sources.Get("Secret", ns, vf.SecretKeyRef.Name).dataValue(vf.SecretKeyRef.Key)
				return o, true
			case vf.ConfigMapKeyRef != nil:
				o := EnvOrigin{Where: "ConfigMap " + vf.ConfigMapKeyRef.Name + " key " + vf.ConfigMapKeyRef.Key}
				o.Value, o.Known = sources.Get("ConfigMap", ns, vf.ConfigMapKeyRef.Name).dataValue(vf.ConfigMapKeyRef.Key)
				return o, true
			default: // the downward API
				return EnvOrigin{Where: w.Kind + " " + w.Name() + " container " + c.Name + " env " + name}, true
			}
		}
		for i := len(c.EnvFrom) - 1; i >= 0; i-- {
			from := c.EnvFrom[i]
			key, found := strings.CutPrefix(name, from.Prefix)
			if !found {
				continue
			}
			switch {
			case from.ConfigMapRef != nil:
				cm := sources.Get("ConfigMap", ns, from.ConfigMapRef.Name)
				if v, ok := cm.dataValue(key); ok {
					return EnvOrigin{Value: v, Known: true, Where: "ConfigMap " + cm.Name() + " key " + key}, true
				}
			case from.SecretRef != nil:
				s := sources.Get("Secret", ns, from.SecretRef.Name)
				if v, ok := s.dataValue(key); ok {
					ref := &corev1.SecretKeySelector{LocalObjectReference: from.SecretRef.LocalObjectReference, Key: key}
					if opt := from.SecretRef.Optional; opt != nil {
						o := *opt
						ref.Optional = &o
					}
					return EnvOrigin{Value: v, Known: true, Secret: ref, Where: "Secret " + s.Name() + " key " + key}, true
				}
			}
		}
	}
	return EnvOrigin{}, false
}
