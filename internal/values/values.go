// Package values writes the goharbor/harbor chart's values overlay for the
// KubeBlocks clusters discovery found: external PostgreSQL and Redis, a
// NodePort exposure and externalURL (../shared/harbor/REFERENCE.md §2.1-2.3).
//
// No password is ever written: the database's comes from the KubeBlocks
// Secret (database.external.existingSecret, key "password"), the Redis one
// reaches Harbor's pods by reference through the post-renderer
// (--redis-password-secret, RedisRef): the chart itself reads
// redis.external.existingSecret only with Helm's lookup, which is empty
// under `helm template` and GitOps tools. A pod reads Secrets of its own
// namespace only, so a Secret elsewhere is an error that points at
// bootstrap (Harbor's own role, user or copy in Harbor's namespace).
// Files are written with mode 0600 (WriteFile).
package values

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/harborha/helm-harborha/internal/discover"
)

// Spec shapes the overlay.
type Spec struct {
	HarborNamespace string // where Harbor is installed (existingSecret works only there)
	Database        string // database.external.coreDatabase
	SSLMode         string // database.external.sslmode
	TLS             bool   // expose.tls.enabled with an auto certificate
	NodePort        int    // expose.nodePort.ports.http.nodePort
	HTTPSNodePort   int    // expose.nodePort.ports.https.nodePort (with TLS)
	ExternalURL     string // else http(s)://<Result.NodeIP>:<node port>
	Chart           Chart
	Now             time.Time
	Generator       string // "helm-harborha <version>", for the header
	// Bootstrapped says bootstrap provides the Secrets in Harbor's
	// namespace (the wrappers, --bootstrapped): a cluster Secret elsewhere
	// is then no error, bootstrap's settings replace it.
	Bootstrapped bool
}

// Defaults are the flag defaults.
func Defaults() Spec {
	return Spec{Database: "registry", SSLMode: "disable", NodePort: 30002, HTTPSNodePort: 30003, Chart: LatestChart()}
}

var sslModes = []string{"disable", "require", "verify-ca", "verify-full"}

// Validate checks the options a user typed, naming the flag at fault.
func (o Spec) Validate() error {
	if strings.TrimSpace(o.Database) == "" {
		return errors.New("--database: must not be empty (the PostgreSQL database Harbor's core uses, e.g. registry)")
	}
	ok := false
	for _, m := range sslModes {
		ok = ok || o.SSLMode == m
	}
	if !ok {
		return fmt.Errorf("--sslmode %q: use one of %s", o.SSLMode, strings.Join(sslModes, ", "))
	}
	for _, p := range []struct {
		flag string
		v    int
	}{{"--node-port", o.NodePort}, {"--https-node-port", o.HTTPSNodePort}} {
		if p.v < 1 || p.v > 65535 {
			return fmt.Errorf("%s %d: a port must be within 1-65535 (Kubernetes' default NodePort range is 30000-32767)", p.flag, p.v)
		}
	}
	if o.TLS && o.NodePort == o.HTTPSNodePort {
		return fmt.Errorf("--node-port and --https-node-port are both %d: give them different ports", o.NodePort)
	}
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--external-url %q: give an absolute http:// or https:// URL, e.g. http://harbor.example.com:30002", o.ExternalURL)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--external-url %q: Harbor needs the root of a host (no path, query or fragment)", o.ExternalURL)
		}
	}
	return nil
}

// The overlay, in the chart's own key order.
type overlay struct {
	Expose      expose   `yaml:"expose"`
	ExternalURL string   `yaml:"externalURL"`
	Database    database `yaml:"database"`
	Redis       redis    `yaml:"redis"`
}

type expose struct {
	Type     string   `yaml:"type"`
	TLS      tls      `yaml:"tls"`
	NodePort nodePort `yaml:"nodePort"`
}

type tls struct {
	Enabled    bool     `yaml:"enabled"`
	CertSource string   `yaml:"certSource,omitempty"`
	Auto       *tlsAuto `yaml:"auto,omitempty"`
}

type tlsAuto struct {
	CommonName string `yaml:"commonName"`
}

type nodePort struct {
	Ports nodePorts `yaml:"ports"`
}

type nodePorts struct {
	HTTP  port  `yaml:"http"`
	HTTPS *port `yaml:"https,omitempty"`
}

type port struct {
	NodePort int `yaml:"nodePort"`
}

type database struct {
	Type     string     `yaml:"type"`
	External externalDB `yaml:"external"`
}

type externalDB struct {
	Host           string `yaml:"host"`
	Port           string `yaml:"port"`
	Username       string `yaml:"username"`
	CoreDatabase   string `yaml:"coreDatabase"`
	ExistingSecret string `yaml:"existingSecret,omitempty"`
	SSLMode        string `yaml:"sslmode"`
}

type redis struct {
	Type     string        `yaml:"type"`
	External externalRedis `yaml:"external"`
}

type externalRedis struct {
	Addr                    string `yaml:"addr"`
	SentinelMasterSet       string `yaml:"sentinelMasterSet,omitempty"`
	CoreDatabaseIndex       string `yaml:"coreDatabaseIndex"`
	JobserviceDatabaseIndex string `yaml:"jobserviceDatabaseIndex"`
	RegistryDatabaseIndex   string `yaml:"registryDatabaseIndex"`
	TrivyAdapterIndex       string `yaml:"trivyAdapterIndex"`
	Username                string `yaml:"username,omitempty"`
}

// Build returns the overlay for what discovery found.
func Build(r *discover.Result, o Spec) (*Overlay, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if r.PostgreSQL == nil || r.Redis == nil {
		return nil, errors.New("discovery found no PostgreSQL or no Redis cluster")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	ext, err := externalURL(r, o)
	if err != nil {
		return nil, err
	}
	v := overlay{ExternalURL: ext, Expose: exposure(ext, o), Redis: redisValues(r.Redis, o)}
	dbSecret := r.PostgreSQL.Namespace == o.HarborNamespace
	if !dbSecret && !o.Bootstrapped {
		return nil, elsewhere("PostgreSQL", r.PostgreSQL, o.HarborNamespace, "Harbor's own role with its Secret")
	}
	v.Database = databaseValues(r.PostgreSQL, o, dbSecret)
	var b strings.Builder
	header(&b, r, o, dbSecret)
	return newOverlay(b.String(), v)
}

// exposure is a NodePort exposure at externalURL ext, over HTTPS with TLS.
func exposure(ext string, o Spec) expose {
	e := expose{Type: "nodePort", TLS: tls{Enabled: o.TLS}}
	e.NodePort.Ports.HTTP.NodePort = o.NodePort
	if o.TLS {
		u, _ := url.Parse(ext)
		e.TLS.CertSource = "auto"
		e.TLS.Auto = &tlsAuto{CommonName: u.Hostname()} // required by the chart for non-ingress exposure
		e.NodePort.Ports.HTTPS = &port{NodePort: o.HTTPSNodePort}
	}
	return e
}

// databaseValues point Harbor's core at the PostgreSQL cluster, with its
// Secret when Harbor's pods can read it (dbSecret); bootstrap's replaces
// it otherwise.
func databaseValues(pg *discover.Endpoint, o Spec, dbSecret bool) database {
	d := database{Type: "external", External: externalDB{
		Host:         pg.Host,
		Port:         strconv.Itoa(pg.Port), // the chart's default is the string "5432"
		Username:     pg.Username,
		CoreDatabase: o.Database,
		SSLMode:      o.SSLMode,
	}}
	if dbSecret {
		d.External.ExistingSecret = pg.Secret
	}
	return d
}

// redisValues point Harbor at the Redis cluster (through Sentinel when
// discovery found it), with the account's user when the chart takes one.
func redisValues(rd *discover.Endpoint, o Spec) redis {
	v := redis{Type: "external", External: externalRedis{
		Addr:                    rd.Addr(),
		CoreDatabaseIndex:       "0", // must be 0 (values.yaml)
		JobserviceDatabaseIndex: "1",
		RegistryDatabaseIndex:   "2",
		TrivyAdapterIndex:       "5",
	}}
	if s := rd.Sentinel; s != nil {
		v.External.Addr = s.Addr()
		v.External.SentinelMasterSet = s.MasterSet
	}
	if o.Chart.RedisUsername {
		v.External.Username = rd.Username
	}
	return v
}

// elsewhere is the error for a cluster Secret outside Harbor's namespace:
// no inline fallback, a pod can read only its own namespace's Secrets.
func elsewhere(engine string, e *discover.Endpoint, namespace, what string) error {
	return fmt.Errorf("the %s secret %s/%s is not in Harbor's namespace %q, and Harbor's pods can read Secrets only there (the values never hold a password): let bootstrap create %s in %q (`helm harborha bootstrap RELEASE`; install and upgrade do it unless --no-bootstrap), which template and export of RELEASE then use, as does `values --bootstrapped RELEASE`",
		engine, e.Namespace, e.Secret, namespace, what, namespace)
}

func externalURL(r *discover.Result, o Spec) (string, error) {
	if o.ExternalURL != "" {
		return strings.TrimRight(o.ExternalURL, "/"), nil
	}
	if r.NodeIP == "" {
		return "", errors.New("no node address to build externalURL from: pass --external-url http://HOST:PORT")
	}
	if o.TLS {
		return "https://" + net.JoinHostPort(r.NodeIP, strconv.Itoa(o.HTTPSNodePort)), nil
	}
	return "http://" + net.JoinHostPort(r.NodeIP, strconv.Itoa(o.NodePort)), nil
}

func header(b *strings.Builder, r *discover.Result, o Spec, dbSecret bool) {
	gen := o.Generator
	if gen == "" {
		gen = "helm-harborha"
	}
	fmt.Fprintf(b, "# Values overlay for the goharbor/harbor chart, generated by %s at %s.\n", gen, o.Now.UTC().Format(time.RFC3339))
	for _, e := range []*discover.Endpoint{r.PostgreSQL, r.Redis} {
		fmt.Fprintf(b, "# %-11s %s, KubeBlocks %s (%s), service %s, secret %s\n", e.What()+":", e.Ref(), e.KubeBlocks, e.APIVersion, e.Service, e.Secret)
	}
	if s := r.Redis.Sentinel; s != nil {
		fmt.Fprintf(b, "# %-11s service %s, master set %s\n", "Sentinel:", s.Service, s.MasterSet)
	}
	user := "not set (the chart has no redis.external.username)"
	if o.Chart.RedisUsername {
		user = "set"
	}
	fmt.Fprintf(b, "# %-11s %s: redis.external.username %s\n", "Chart:", o.Chart.Describe(), user)
	if dbSecret {
		fmt.Fprintf(b, "# The database password stays in the cluster: existingSecret %s (key \"password\").\n", r.PostgreSQL.Secret)
	} else {
		b.WriteString("# The database password stays in the cluster: bootstrap's Secret in Harbor's namespace.\n")
	}
	b.WriteString("# No Redis password here either: pods read it from a Secret by reference, through\n")
	b.WriteString("# `helm harborha post-render --redis-password-secret` (the install wrappers pass it).\n")
}

// WriteFile writes data to path with mode 0600, atomically: a temporary
// file in the same directory, then a rename, so a reader never sees half
// a file and an existing file's looser mode is not kept.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("-o %s: %v", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("-o %s: %v", path, err)
	}
	return nil
}
