package discover

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/output"
)

// Engine is the database engine of a KubeBlocks cluster.
type Engine string

const (
	PostgreSQL Engine = "postgresql"
	Redis      Engine = "redis"
)

// Title is the engine's name in messages.
func (e Engine) Title() string {
	switch e {
	case PostgreSQL:
		return "PostgreSQL"
	case Redis:
		return "Redis"
	}
	return string(e)
}

// Address modes for Endpoint.Host.
const (
	AddressClusterIP = "clusterip" // the Service's ClusterIP (the design card's choice)
	AddressDNS       = "dns"       // <service>.<namespace>.svc
)

// Query chooses the clusters and how to address them.
type Query struct {
	Namespace      string // Harbor's namespace; the default for both clusters
	PG, Redis      string // cluster names; empty = the only one of its engine
	PGNamespace    string // where the PostgreSQL cluster lives, if not Namespace
	RedisNamespace string // where the Redis cluster lives, if not Namespace
	Sentinel       bool   // Redis through Sentinel instead of the primary service
	Address        string // AddressClusterIP (default) or AddressDNS
	NodeAddress    bool   // also find a node's InternalIP (for values' externalURL)
	// Nodes lists the nodes NodeAddress picks from, when the caller has
	// listed them already (an install's preflight): the cluster is asked
	// once. Nil: discovery lists one page itself.
	Nodes func(ctx context.Context) ([]corev1.Node, error)
}

// Result is what discovery found. It never holds a password in a field
// that is serialised or printed: see Password.
type Result struct {
	PostgreSQL *Endpoint `json:"postgresql"`
	Redis      *Endpoint `json:"redis"`
	// NodeIP is a node's InternalIP (only with Query.NodeAddress).
	NodeIP string `json:"nodeIP,omitempty"`
	// Unusable are the other PostgreSQL and Redis clusters of the
	// namespaces looked at that Harbor cannot use, with the reason.
	Unusable []Unusable `json:"unusable,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
}

// Unusable is a cluster Harbor cannot use, and why.
type Unusable struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Engine    Engine `json:"engine"`
	Reason    string `json:"reason"`
}

// Ref is namespace/name.
func (u Unusable) Ref() string { return u.Namespace + "/" + u.Cluster }

// Endpoint is one KubeBlocks cluster as Harbor will use it.
type Endpoint struct {
	Cluster    string `json:"cluster"`
	Namespace  string `json:"namespace"`
	Engine     Engine `json:"engine"`
	Server     string `json:"server,omitempty"` // a Redis-protocol server other than Redis: "valkey"
	Component  string `json:"component"`
	KubeBlocks string `json:"kubeblocks"` // the detected shape, e.g. "1.0", "0.9 topology", "0.8 legacy"
	APIVersion string `json:"apiVersion"` // the Cluster API version read
	Phase      string `json:"phase"`
	Replicas   int    `json:"replicas"`
	PrimaryPod string `json:"primaryPod,omitempty"`
	Service    string `json:"service"`
	ClusterIP  string `json:"clusterIP"`
	Host       string `json:"host"` // ClusterIP or DNS name, per Query.Address
	Port       int    `json:"port"`
	Secret     string `json:"secret"` // the credential Secret, in Namespace
	Username   string `json:"username"`
	// Password is the credential's password; it prints as output.Redacted.
	Password Password  `json:"-"`
	Sentinel *Sentinel `json:"sentinel,omitempty"`
	// Pods is host:port naming every pod of the component: the DNS name
	// of the headless Service the pods' subdomain names, which resolves
	// to each pod's address (empty when the pods name none).
	Pods string `json:"pods,omitempty"`
	// Problems are health problems (values refuses them unless --force).
	Problems []string `json:"problems,omitempty"`
}

// Addr is host:port.
func (e *Endpoint) Addr() string { return e.Host + ":" + strconv.Itoa(e.Port) }

// What names what the cluster runs, for people: "PostgreSQL", "Redis",
// "Valkey".
func (e *Endpoint) What() string {
	if e.Server == serverValkey.name {
		return "Valkey"
	}
	return e.Engine.Title()
}

// Ref is namespace/name.
func (e *Endpoint) Ref() string { return e.Namespace + "/" + e.Cluster }

// Healthy reports whether the cluster is Running with a primary pod.
func (e *Endpoint) Healthy() bool { return len(e.Problems) == 0 }

// Sentinel is how Harbor reaches Redis through Sentinel.
type Sentinel struct {
	Service   string `json:"service"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	MasterSet string `json:"masterSet"`
	Secret    string `json:"secret"`
}

// Addr is host:port.
func (s *Sentinel) Addr() string { return s.Host + ":" + strconv.Itoa(s.Port) }

// Password holds a secret value. Every way of printing it (%v, %s, %#v,
// JSON) shows output.Redacted; only Reveal gives the value, for the one place
// that must write it (the values overlay).
type Password struct{ v string }

// NewPassword wraps a secret value.
func NewPassword(v string) Password { return Password{v: v} }

// Reveal returns the secret value.
func (p Password) Reveal() string { return p.v }

// Empty reports whether there is no value.
func (p Password) Empty() bool { return p.v == "" }

func (p Password) String() string               { return output.Redacted }
func (p Password) GoString() string             { return output.Redacted }
func (p Password) MarshalJSON() ([]byte, error) { return []byte(`"` + output.Redacted + `"`), nil }
func (p Password) MarshalText() ([]byte, error) { return []byte(output.Redacted), nil }

// Format covers every fmt verb (%q, %x ... included).
func (p Password) Format(f fmt.State, _ rune) { f.Write([]byte(output.Redacted)) }

// equal compares in constant time.
func (p Password) equal(q Password) bool {
	return subtle.ConstantTimeCompare([]byte(p.v), []byte(q.v)) == 1
}
