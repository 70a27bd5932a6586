package postrender

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
	"github.com/harborha/helm-harborha/internal/harbor"
)

// The database proxy (--database-proxy-image): every process that opens a
// database pool (core, jobservice, exporter: harbor.DatabasePools) gets
// harborha-dbproxy beside it, a native sidecar (an init container that
// keeps running, Kubernetes 1.29 and later) first among the init
// containers, so that it runs before them and before the process. The
// process connects to it on the pod's loopback; the proxy connects to the
// database the chart configured, with the password by reference to the
// very Secret key the process reads, and holds the process's connections
// through a switchover. One server connection per client connection: the
// pools' budget (pool.go) stays as it is.
//
// core and exporter are pointed at the proxy by env values (which win over
// the chart's ConfigMaps); jobservice takes core's settings over core's
// config API, so its pods get the proxy alone, forwarding where core's
// settings said. Post-rendering our own output keeps each proxy's upstream
// (the process's own variables then say 127.0.0.1).

// Where the process finds its proxy, and what it asks of it: the proxy
// talks TLS to the database, if the database asks for it, not to Harbor.
var proxyTarget = struct{ host, port, sslmode string }{contract.Host, strconv.Itoa(contract.Port), "disable"}

// The sidecar's resources (a proxy of a few connections) and the user it
// runs as (distroless' nonroot).
const (
	proxyCPURequest    = "10m"
	proxyMemoryRequest = "16Mi"
	proxyMemoryLimit   = "64Mi"
	proxyUser          = 65532
	// The startup probe holds the process back until it succeeds, for up
	// to 30 s. An exec probe (the binary dials DBPROXY_LISTEN): the proxy
	// listens on the pod's loopback, which a tcpSocket probe, dialled by
	// the kubelet at the pod's IP, cannot reach.
	proxyProbePeriod   = 1
	proxyProbeFailures = 30
)

// proxyOps give a workload that opens a pool its proxy, and point its
// process at it; ops are the workload's operations so far. The sidecar's
// operation comes last, since it shifts the init containers that earlier
// operations address by index. A process whose database or password the
// stream does not show, or shows only in plain text, keeps connecting
// directly, with a warning: a proxy never gets a password copied into the
// manifest.
func proxyOps(p *plan, rel *harbor.Release, w *harbor.Workload, o Knobs, ops []jsonOp) []jsonOp {
	if o.DatabaseProxyImage == "" {
		return ops
	}
	pool, ok := harbor.PoolOf(w.Component)
	if !ok {
		return ops
	}
	const skip = "--database-proxy-image: %s gets no proxy: "
	up, ok := rel.DatabaseUpstream(w)
	if !ok {
		p.warnf(skip+"the stream does not show which database it connects to (%s of container %s unset, or read from an object the chart did not render)", w.Doc.ID(), pool.Host, pool.Reads)
		return ops
	}
	if !up.FromProxy && up.Host == contract.Host && up.Port == contract.Port {
		p.warnf(skip+"%s points at the proxy's own address %s, and no proxy beside it says where the database is", w.Doc.ID(), up.Where, contract.Listen)
		return ops
	}
	pw, ok := rel.DatabasePassword(w)
	switch {
	case !ok:
		p.warnf(skip+"nothing sets %s of container %s, the database password the proxy logs in with", w.Doc.ID(), pool.Password, pool.Reads)
		return ops
	case pw.Secret == nil:
		p.warnf(skip+"the database password reaches it in plain text (%s), and the proxy takes it only from a Secret; set database.external.existingSecret", w.Doc.ID(), pw.Where)
		return ops
	case pw.Known && pw.Value == "":
		p.warnf(skip+"the database password (%s) is empty, and the proxy needs one to log in", w.Doc.ID(), pw.Where)
		return ops
	}
	if pool.Reads == w.Component {
		ops = withEnv(w, w.Component, ops, []corev1.EnvVar{
			{Name: pool.Host, Value: proxyTarget.host},
			{Name: pool.Port, Value: proxyTarget.port},
			{Name: pool.SSLMode, Value: proxyTarget.sslmode},
		})
	}
	return sidecarOps(w, proxyContainer(o, up, pw.Secret), ops)
}

// sidecarOps make want the workload's first init container: added, or the
// one of its name updated in place and moved first.
func sidecarOps(w *harbor.Workload, want corev1.Container, ops []jsonOp) []jsonOp {
	const path = harbor.PodPath + "/initContainers"
	have, at := w.DatabaseProxy()
	switch {
	case len(w.Template().Spec.InitContainers) == 0:
		return append(ops, set(path, toMap([]corev1.Container{want})))
	case at < 0:
		return append(ops, set(path+"/0", toMap(want))) // inserts
	case at == 0 && equalJSON(have, want):
		return ops
	case at == 0:
		return append(ops, jsonOp{Op: "replace", Path: path + "/0", Value: toMap(want)})
	}
	return append(ops, jsonOp{Op: "remove", Path: fmt.Sprintf("%s/%d", path, at)}, set(path+"/0", toMap(want)))
}

// proxyContainer is the sidecar of the knobs' image forwarding to up (and
// to the knobs' pods while up lags), logging in with the password of the
// Secret key password.
func proxyContainer(o Knobs, up harbor.DatabaseAddress, password *corev1.SecretKeySelector) corev1.Container {
	env := []corev1.EnvVar{
		{Name: contract.EnvListen, Value: contract.Listen},
		{Name: contract.EnvUpstream, Value: up.Upstream},
	}
	if o.DatabasePods != "" {
		env = append(env, corev1.EnvVar{Name: contract.EnvPods, Value: o.DatabasePods})
	}
	env = append(env,
		corev1.EnvVar{Name: contract.EnvSSLMode, Value: up.SSLMode},
		corev1.EnvVar{Name: contract.EnvPassword, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: password}})
	always := corev1.ContainerRestartPolicyAlways
	yes, no := true, false
	user := int64(proxyUser)
	return corev1.Container{
		Name:            contract.Container,
		Image:           o.DatabaseProxyImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		RestartPolicy:   &always,
		Env:             env,
		StartupProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{contract.Binary, "--probe"}}},
			PeriodSeconds:    proxyProbePeriod,
			FailureThreshold: proxyProbeFailures,
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(proxyCPURequest),
				corev1.ResourceMemory: resource.MustParse(proxyMemoryRequest),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(proxyMemoryLimit)},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			RunAsUser:                &user,
			RunAsGroup:               &user,
			ReadOnlyRootFilesystem:   &yes,
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}
