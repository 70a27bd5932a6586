// Package kube connects to the Kubernetes API server the way Helm does, and
// turns API errors into one-line messages that say what to do.
//
// Configuration comes from Helm's own pkg/cli: EnvSettings reads the
// variables Helm exports to plugins (HELM_NAMESPACE, HELM_KUBECONTEXT,
// HELM_KUBETOKEN, HELM_KUBEAPISERVER, HELM_KUBEASUSER, HELM_KUBEASGROUPS,
// HELM_KUBECAFILE, HELM_KUBEINSECURE_SKIP_TLS_VERIFY,
// HELM_KUBETLS_SERVER_NAME, HELM_QPS, HELM_BURST_LIMIT) and its
// RESTClientGetter honours KUBECONFIG, so `helm harborha ...` talks to the
// cluster `helm` itself would. When the binary runs on its own, Flags adds
// Helm's --namespace/-n, --kube-context and --kubeconfig flags (the same
// definitions, bound to the same settings).
//
// Typical use from a command:
//
//	kf := kube.NewFlags()
//	kf.AddFlags(fs)             // after fs.Parse, the flags override the env
//	c, err := kube.Connect(kf.Settings(), kube.Options{})
//	...
//	list, err := c.Typed.CoreV1().Secrets(ns).List(ctx, opts)
//	if err != nil {
//		return c.Explain(err, kube.Op{Verb: "list", Resource: "secrets", Namespace: ns})
//	}
//
// Connect makes no request: clients are created lazily by client-go, so
// callers can count exactly the requests their own code makes (see
// Options.WrapTransport).
package kube

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Flags carries Helm's environment settings and, for a standalone run, the
// three connection flags a user expects (Helm strips them from a plugin's
// arguments and passes them through the environment instead).
type Flags struct {
	settings *cli.EnvSettings
}

// NewFlags reads Helm's environment (cli.New).
func NewFlags() *Flags { return &Flags{settings: cli.New()} }

// flagNames are the Helm global flags a standalone run accepts.
var flagNames = []string{"namespace", "kube-context", "kubeconfig"}

// AddFlags adds --namespace/-n, --kube-context and --kubeconfig to fs.
// They are Helm's own flag definitions, bound to the same settings, so a
// flag given on the command line wins over the environment.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	all := pflag.NewFlagSet("helm", pflag.ContinueOnError)
	f.settings.AddFlags(all)
	for _, name := range flagNames {
		fs.AddFlag(all.Lookup(name))
	}
}

// Settings are the resulting Helm settings.
func (f *Flags) Settings() *cli.EnvSettings { return f.settings }

// Options adjust Connect.
type Options struct {
	// WrapTransport, when set, wraps the HTTP transport of every client
	// (tests count requests with it).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// QPS and Burst override Helm's client-side throttling when non-zero.
	QPS   float32
	Burst int
}

// Client is a connection to one API server, with what is needed to name
// it in messages.
type Client struct {
	Settings  *cli.EnvSettings
	Config    *rest.Config
	Typed     kubernetes.Interface
	Dynamic   dynamic.Interface
	Namespace string // HELM_NAMESPACE / --namespace, else the context's, else "default"
	Context   string // the kubeconfig context used ("" in-cluster or with --kube-apiserver only)
	Server    string // the API server URL
}

// Connect builds clients from Helm's settings without contacting the
// server. Kubeconfig problems (no configuration, unknown context, a broken
// file) come back as one actionable line.
func Connect(s *cli.EnvSettings, o Options) (*Client, error) {
	getter := s.RESTClientGetter()
	loader := getter.ToRawKubeConfigLoader()
	raw, rawErr := loader.RawConfig()
	ctxName := s.KubeContext
	if ctxName == "" && rawErr == nil {
		ctxName = raw.CurrentContext
	}
	if rawErr == nil {
		// client-go would fall back to http://localhost:8080 (kubectl's
		// legacy default) and fail later with a confusing message.
		if len(raw.Clusters) == 0 && s.KubeAPIServer == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return nil, errors.New("no Kubernetes configuration found: set KUBECONFIG, pass --kubeconfig, or run inside a cluster")
		}
		if _, ok := raw.Contexts[ctxName]; s.KubeContext != "" && !ok {
			return nil, fmt.Errorf("kubeconfig context %q does not exist (from --kube-context or HELM_KUBECONTEXT); contexts available: %s", ctxName, contextNames(raw.Contexts))
		}
	}
	cfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, explainConfig(err, s)
	}
	cfg = rest.CopyConfig(cfg)
	if o.WrapTransport != nil {
		cfg.Wrap(o.WrapTransport)
	}
	if o.QPS != 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst != 0 {
		cfg.Burst = o.Burst
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot configure a client for %s: %v", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot configure a client for %s: %v", cfg.Host, err)
	}
	return &Client{
		Settings:  s,
		Config:    cfg,
		Typed:     typed,
		Dynamic:   dyn,
		Namespace: s.Namespace(),
		Context:   ctxName,
		Server:    cfg.Host,
	}, nil
}

// explainConfig turns a kubeconfig loading error into one line.
func explainConfig(err error, s *cli.EnvSettings) error {
	if clientcmd.IsEmptyConfig(err) {
		return errors.New("no Kubernetes configuration found: set KUBECONFIG, pass --kubeconfig, or run inside a cluster")
	}
	where := "the kubeconfig"
	if s.KubeConfig != "" {
		where = "kubeconfig " + s.KubeConfig
	}
	return fmt.Errorf("cannot load %s: %s; fix the file or pass --kubeconfig", where, strings.Join(strings.Fields(err.Error()), " "))
}

func contextNames[T any](contexts map[string]T) string {
	names := make([]string, 0, len(contexts))
	for n := range contexts {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Where names the server and context for messages: `https://h:6443 (context "kind")`.
func (c *Client) Where() string {
	if c.Context == "" {
		return c.Server
	}
	return fmt.Sprintf("%s (context %q)", c.Server, c.Context)
}
