// Package contract is what harborha-dbproxy and the manifests that run it
// agree on: the sidecar's name and binary, the environment it reads, and
// where it listens. A leaf package, so that the post-render (which writes
// the sidecar) and the proxy (which reads it) share it without linking
// each other.
package contract

import (
	"net"
	"strconv"
)

const (
	// Container is the sidecar's name in a pod.
	Container = "harborha-dbproxy"
	// Binary is the proxy's path in its image (make images).
	Binary = "/harborha-dbproxy"

	EnvListen   = "DBPROXY_LISTEN"
	EnvUpstream = "DBPROXY_UPSTREAM" // host:port of the database, several comma-separated
	EnvPassword = "DBPROXY_PASSWORD"
	EnvSSLMode  = "DBPROXY_SSLMODE"
	EnvHold     = "DBPROXY_HOLD"
	// EnvPods is host:port naming every database pod (the cluster's
	// headless Service): where the proxy looks for the primary itself
	// while the Service's route lags behind a switchover.
	EnvPods = "DBPROXY_PODS"

	// Host and Port are where the proxy listens, and so where the process
	// it serves connects: the pod's loopback.
	Host = "127.0.0.1"
	Port = 6432
)

// Listen is DBPROXY_LISTEN's default: Host:Port.
var Listen = net.JoinHostPort(Host, strconv.Itoa(Port))
