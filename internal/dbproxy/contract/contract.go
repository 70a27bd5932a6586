// Package contract is what harborha-dbproxy and the manifests that run it
// agree on: the sidecar's name and binary, the environment it reads, and
// where it listens. A leaf package, so that the post-render (which writes
// the sidecar) and the proxy (which reads it) share it without linking
// each other.
package contract

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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

// HostPorts reads a comma-separated list of host:port, as DBPROXY_UPSTREAM
// and DBPROXY_PODS hold it: each host an IP or a DNS name, each port
// 1-65535; blanks around an entry and empty entries are ignored. The
// post-render checks what it writes with the same reading the proxy makes
// of it. An error names the entry.
func HostPorts(list string) ([]string, error) {
	var out []string
	for _, hp := range strings.Split(list, ",") {
		if hp = strings.TrimSpace(hp); hp == "" {
			continue
		}
		host, port, err := net.SplitHostPort(hp)
		n, perr := strconv.Atoi(port)
		if err != nil || !hostName(host) || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q is not host:port", hp)
		}
		out = append(out, hp)
	}
	return out, nil
}

// hostName tells an IP address or a DNS name (letters, digits, '-', '_'
// and '.'; resolvers take more than RFC 1123 allows, so this is lenient).
func hostName(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	if host == "" || len(host) > 253 || strings.HasPrefix(host, "-") || strings.HasPrefix(host, ".") {
		return false
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
