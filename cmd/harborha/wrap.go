package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/helmrun"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

func init() {
	for _, action := range []string{"install", "upgrade", "template"} {
		register(command{
			name:    action,
			summary: fmt.Sprintf("helm %s, on the discovered KubeBlocks clusters, post-rendered into an HA topology", action),
			run: func(ctx context.Context, s *streams, args []string) error {
				return runWrapper(ctx, s, action, args)
			},
		})
	}
}

const wrapperHelp = `Usage: helm harborha %[1]s [RELEASE] CHART [harborha flags] [helm flags] [-- helm flags]

Runs your own Helm (HELM_BIN, else helm on PATH; Helm 3 or 4):
  1. discovers the KubeBlocks PostgreSQL and Redis clusters and builds the
     chart's values overlay (--no-discover: only the values you give);
  2. %[2]s
  3. runs 'helm %[1]s' with the overlay as the FIRST values file (your own
     -f and --set come after it and win) and the harborha post-renderer
     attached; every other flag is passed to Helm untouched. Exit status is
     Helm's.

Telling the flags apart: the flags below are harborha's and are consumed;
everything else goes to Helm in its order; after "--" everything is Helm's.
Helm's -n, --kube-context and --kubeconfig serve both.

harborha flags:
`

// wrapperFlags are the wrappers' own flags.
type wrapperFlags struct {
	all         *pflag.FlagSet // every flag of ours: what Split consumes
	post        *pflag.FlagSet // the post-render knobs: forwarded to the post-renderer
	values      *valuesFlags
	boot        *bootstrapFlags
	noDiscover  bool
	noBootstrap bool
}

func newWrapperFlags(action string) *wrapperFlags {
	w := &wrapperFlags{
		all:  pflag.NewFlagSet(action, pflag.ContinueOnError),
		post: pflag.NewFlagSet("post-render", pflag.ContinueOnError),
	}
	// The knobs are parsed (and checked) by postrender.ParseArgs from their
	// tokens; these definitions only tell Split which tokens they are.
	scratch := postrender.DefaultOptions()
	var config string
	w.post.StringVar(&config, "config", "", "post-render knobs from a YAML file (flags override it)")
	postrender.AddFlags(w.post, &scratch)
	w.all.AddFlagSet(w.post)
	d := newDiscoveryFlags()
	d.addClusterFlags(w.all)
	w.values = addValuesFlags(w.all, d, "allow-unhealthy")
	if action != "template" {
		w.boot = addBootstrapFlags(w.all, "bootstrap-timeout")
		w.all.BoolVar(&w.noBootstrap, "no-bootstrap", false, "do not create Harbor's database, role and Redis user first")
	}
	w.all.BoolVar(&w.noDiscover, "no-discover", false, "use only the values you give: no cluster discovery (CI without a cluster)")
	return w
}

func runWrapper(ctx context.Context, s *streams, action string, args []string) error {
	w := newWrapperFlags(action)
	if wantsHelp(args) {
		step := "creates Harbor's database, role and Redis user (as 'bootstrap' does) unless --no-bootstrap;"
		if action == "template" {
			step = "(template changes nothing in the cluster: no bootstrap);"
		}
		fmt.Fprintf(s.out, wrapperHelp, action, step)
		w.all.SetOutput(s.out)
		w.all.PrintDefaults()
		return nil
	}
	mine, helmArgs, err := helmrun.Split(args, w.all)
	if err != nil {
		return err
	}
	postArgs, ownArgs, err := helmrun.Split(mine, w.post)
	if err != nil {
		return err
	}
	w.all.SetOutput(io.Discard)
	if err := w.all.Parse(ownArgs); err != nil {
		return fmt.Errorf("%v (see --help)", err)
	}
	// Check the knobs now: a bad one must fail before anything changes.
	if _, _, err := postrender.ParseArgs("post-render", postArgs, io.Discard); err != nil {
		return err
	}
	if err := w.values.o.Validate(); err != nil {
		return err
	}
	pos := helmrun.Positionals(action, helmArgs)
	if len(pos) == 0 {
		return fmt.Errorf("%s needs the chart: helm harborha %s [RELEASE] CHART [flags]", action, action)
	}
	release, chart := "", pos[len(pos)-1]
	if len(pos) >= 2 {
		release = pos[0]
	}

	helm := os.Getenv("HELM_BIN")
	if helm == "" {
		helm = "helm"
	}
	major, err := helmrun.Major(ctx, helm)
	if err != nil {
		return err
	}
	if major == 4 {
		if err := helmrun.RequirePlugin(ctx, helm, helmrun.Helm4PostRenderer); err != nil {
			return err
		}
	}

	var overlay []byte
	if !w.noDiscover {
		if overlay, err = w.buildOverlay(ctx, s, action, release, chart, helmArgs); err != nil {
			return err
		}
	}

	self, err := postRendererCommand()
	if err != nil {
		return err
	}
	run := helmrun.Run{
		Helm: helm, Major: major, Action: action, HelmArgs: helmArgs, Overlay: overlay,
		PostRender: postArgs, Self: self, Stdout: s.out, Stderr: s.err, Progress: s.err,
	}
	code, err := run.Exec(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code} // Helm has said why
	}
	return nil
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help":
			return true
		}
	}
	return false
}

// buildOverlay discovers the clusters (connecting as the Helm run will:
// Helm's environment, or -n/--kube-context/--kubeconfig among Helm's
// arguments), builds the overlay and, for install and upgrade, bootstraps
// Harbor's database and users and points the overlay at them.
func (w *wrapperFlags) buildOverlay(ctx context.Context, s *streams, action, release, chart string, helmArgs []string) ([]byte, error) {
	settings := w.values.disc.kube.Settings()
	if ns := helmrun.FlagValue(helmArgs, "-n", "--namespace"); ns != "" {
		settings.SetNamespace(ns)
	}
	if kc := helmrun.FlagValue(helmArgs, "--kube-context"); kc != "" {
		settings.KubeContext = kc
	}
	if cfg := helmrun.FlagValue(helmArgs, "--kubeconfig"); cfg != "" {
		settings.KubeConfig = cfg
	}
	if _, err := os.Stat(chart); err == nil {
		w.values.chartPath = chart
	} else if c, err := values.ChartFromVersion(helmrun.FlagValue(helmArgs, "--version")); err == nil {
		w.values.o.Chart = c // an exact --version; a range or none keeps the default
	}

	fmt.Fprintf(s.err, "harborha: discovering the KubeBlocks clusters for namespace %s\n", settings.Namespace())
	doc, found, client, err := w.values.overlay(ctx, s, action)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(s.err, "harborha: values overlay: PostgreSQL %s/%s, Redis %s/%s\n",
		found.PostgreSQL.Namespace, found.PostgreSQL.Cluster, found.Redis.Namespace, found.Redis.Cluster)
	if w.boot == nil || w.noBootstrap || helmDryRun(helmArgs) {
		return doc, nil
	}
	if release == "" {
		return nil, fmt.Errorf("%s needs RELEASE to name the bootstrap Secrets (or pass --no-bootstrap)", action)
	}
	fmt.Fprintf(s.err, "harborha: bootstrapping Harbor's database and users (--no-bootstrap skips this)\n")
	res, err := bootstrap.Run(ctx, client, w.boot.options(release, client.Namespace, w.values.o.Database, found, s.err))
	if err != nil {
		return nil, err
	}
	return withBootstrap(doc, res, w.values.o.Chart.RedisUsername)
}

// helmDryRun reports whether Helm is asked not to change the cluster, in
// which case neither do we.
func helmDryRun(helmArgs []string) bool {
	for _, a := range helmArgs {
		if a == "--dry-run" || (strings.HasPrefix(a, "--dry-run=") && a != "--dry-run=none" && a != "--dry-run=false") {
			return true
		}
	}
	return false
}

// postRendererCommand is how Helm 3 reaches our post-renderer: through
// "$HELM_BIN harborha post-render" when Helm runs us as a plugin (the
// post-renderer then gets Helm's plugin environment), else this executable.
func postRendererCommand() ([]string, error) {
	if bin := os.Getenv("HELM_BIN"); bin != "" && os.Getenv("HELM_PLUGIN_DIR") != "" {
		return []string{bin, "harborha", "post-render"}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the harborha executable for Helm's --post-renderer: %w", err)
	}
	return []string{exe, "post-render"}, nil
}
