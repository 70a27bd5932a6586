// Command harborha-dbproxy is the PostgreSQL session proxy the post-render
// puts beside every Harbor process that opens a database pool
// (--database-proxy-image): Harbor connects to it on the pod's loopback,
// and it keeps those connections through a switchover or a crash of the
// primary (internal/dbproxy). Configured by its environment (DBPROXY_*).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/harborha/helm-harborha/internal/dbproxy"
	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
)

// version is set at build time, like the plugin's.
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("harborha-dbproxy", version)
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "--probe" {
		probe()
		return
	}
	if len(os.Args) > 1 {
		fail(fmt.Sprintf("takes no arguments but --version and --probe: it is configured by %s, %s, %s, %s, %s and %s",
			contract.EnvListen, contract.EnvUpstream, contract.EnvPods, contract.EnvPassword, contract.EnvSSLMode, contract.EnvHold))
	}
	cfg, err := dbproxy.ConfigFromEnv(os.Getenv)
	if err != nil {
		fail(err.Error())
	}
	cfg.Log = log.New(os.Stderr, "harborha-dbproxy: ", log.LstdFlags|log.Lmicroseconds)
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fail(fmt.Sprintf("cannot listen on %s (%s): %v", cfg.Listen, contract.EnvListen, err))
	}
	// A native sidecar gets SIGTERM once Harbor's containers have exited.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg.Log.Printf("%s on %s for %v (sslmode %s, hold %s)", version, cfg.Listen, cfg.Upstreams, cfg.SSLMode, cfg.Hold)
	if err := dbproxy.New(cfg).Serve(ctx, l); err != nil {
		fail(err.Error())
	}
}

// probe is the sidecar's startup probe (an exec probe: the proxy listens
// on the pod's loopback, which a tcpSocket probe from the kubelet cannot
// reach): exit 0 once the proxy accepts connections.
func probe() {
	listen := os.Getenv(contract.EnvListen)
	if listen == "" {
		listen = contract.Listen
	}
	c, err := net.DialTimeout("tcp", listen, time.Second)
	if err != nil {
		fail(fmt.Sprintf("not listening on %s yet: %v", listen, err))
	}
	c.Close()
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "harborha-dbproxy: "+msg)
	os.Exit(2)
}
