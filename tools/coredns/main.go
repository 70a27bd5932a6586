// Command coredns is CoreDNS with only the plugins the real node's
// Corefile uses (internal/kubetest/dns.go): the cluster's Service names
// resolve in pods. CoreDNS's own main links every plugin, cloud DNS
// providers' SDKs among them, which tripled the cold build of the test
// assets; plugins are chosen at compile time, as CoreDNS documents for
// custom builds.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives in CoreDNS's plugin.cfg order, which is the order a query
// passes them: the cache answers before kubernetes is asked.
var directives = []string{"ready", "health", "errors", "cache", "kubernetes"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
