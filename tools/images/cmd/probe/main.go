// Command probe is the real node's test image: one static program that
// serves, fetches and talks to the API server, so that the smoke tests
// need no shell or curl.
//
//	probe serve [ADDR]   HTTP on ADDR (default :8080): 200 "<hostname>\n" on every path
//	probe get URL        GET URL; exit 0 on 200, print the body
//	probe apiserver      GET https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/apis
//	                     with the pod's ServiceAccount token, verifying the server
//	                     with the pod's CA (the in-cluster client's path); exit 0 on 200
//	probe sleep          wait for SIGTERM
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe serve [ADDR] | get URL | apiserver | sleep")
	}
	switch os.Args[1] {
	case "serve":
		addr := ":8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		serve(addr)
	case "get":
		if len(os.Args) != 3 {
			fail("usage: probe get URL")
		}
		get(http.DefaultClient, os.Args[2], "")
	case "apiserver":
		apiserver()
	case "sleep":
		waitTerm()
	default:
		fail("probe: unknown command " + os.Args[1])
	}
}

func serve(addr string) {
	host, _ := os.Hostname()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, host)
	})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	go func() { _ = srv.Serve(ln) }()
	waitTerm()
}

func apiserver() {
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		fail("probe: no ServiceAccount token: " + err.Error())
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		fail("probe: no ServiceAccount CA: " + err.Error())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fail("probe: no certificate in " + saDir + "/ca.crt")
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		fail("probe: KUBERNETES_SERVICE_HOST/PORT not set")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get(c, "https://"+net.JoinHostPort(host, port)+"/apis", strings.TrimSpace(string(token)))
}

func get(c *http.Client, url, token string) {
	if c.Timeout == 0 {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fail(err.Error())
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		fail("probe: " + err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("%s %s\n%s\n", url, resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		os.Exit(1)
	}
}

func waitTerm() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
