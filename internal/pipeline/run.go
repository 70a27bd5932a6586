package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// Result is what a run found and did.
type Result struct {
	// Namespace is Harbor's: the overlay's Secrets are there.
	Namespace string
	Found     *discover.Result
	// Knobs are the input's, with the Redis password's Secret the run
	// learnt (Redis) and the database's max_connections (MaxConnections)
	// set in them.
	Knobs postrender.Knobs
	// MaxConnections is the database's max_connections bootstrap's Job
	// read, which the post-renderer sizes Harbor's pools to; 0 when the
	// user gave it or no Job ran.
	MaxConnections int
	// DatabasePods is the PostgreSQL pods' host:port discovery found, for
	// the database proxy to find a new primary by; empty without a proxy,
	// when the user gave it, or when the pods name no headless Service.
	DatabasePods string
	// Redis is the Secret the run learnt Harbor's pods read the Redis
	// password from; nil when the user named one, or without an overlay.
	Redis *values.RedisRef
	// Overlay is the values overlay, pointed at what bootstrap made; nil
	// without one.
	Overlay *values.Overlay
	// Bootstrap is what bootstrap created, or what it had left.
	Bootstrap bootstrap.Result
	// DryRun is the document of what Create would create (Stage DryRun).
	DryRun []byte
	// Warnings were also written to the progress stream as they arose.
	Warnings []string
}

// run is one Run's state.
type run struct {
	in       *Input
	client   *kube.Client
	progress io.Writer
	res      *Result
}

// Run discovers the clusters, builds the overlay, bootstraps or reads
// what bootstrap left (Stage), points the overlay at it and learns the
// Redis password's Secret. Progress and warnings go to progress.
func (in *Input) Run(ctx context.Context, progress io.Writer) (*Result, error) {
	r := &run{in: in, progress: progress, res: &Result{Knobs: in.Knobs}}
	if err := r.discover(ctx); err != nil {
		return nil, err
	}
	prior, err := r.prior(ctx)
	if err != nil {
		return nil, err
	}
	if in.Overlay != nil {
		if err := r.overlay(prior); err != nil {
			return nil, err
		}
	}
	if r.res.Bootstrap, err = r.bootstrap(ctx, prior); err != nil {
		return nil, err
	}
	if in.Overlay != nil {
		if err := r.point(); err != nil {
			return nil, err
		}
	}
	return r.res, nil
}

// say writes a step, when the input asks for them.
func (r *run) say(format string, args ...any) {
	if r.in.Steps {
		fmt.Fprintf(r.progress, "harborha: "+format+"\n", args...)
	}
}

func (r *run) warn(warnings ...string) {
	output.Warn(r.progress, r.in.Command, warnings)
	r.res.Warnings = append(r.res.Warnings, warnings...)
}

// discover finds the clusters for the client's namespace and checks
// their health. The overlay needs a node's address for externalURL,
// unless the user gave it.
func (r *run) discover(ctx context.Context) error {
	r.say("discovering the KubeBlocks clusters for namespace %s", r.in.Cluster.Settings().Namespace())
	c, err := r.in.Cluster.Client()
	if err != nil {
		return err
	}
	r.client, r.res.Namespace = c, c.Namespace
	q := r.in.Query
	q.NodeAddress = r.in.Overlay != nil && r.in.Overlay.ExternalURL == ""
	q.Nodes = r.in.Cluster.listedNodes()
	if r.res.Found, err = discover.FindWith(ctx, c, q); err != nil {
		return err
	}
	r.warn(r.res.Found.Warnings...)
	r.res.DatabasePods = learnPods(&r.res.Knobs, r.res.Found)
	warning, err := r.in.Health.check(r.res.Found, r.in.Overlay != nil)
	if warning != "" {
		r.warn(warning)
	}
	return err
}

// learnPods sets the knobs' DatabasePods to the PostgreSQL pods found,
// when there is a database proxy and the user named none, and returns
// what it set.
func learnPods(k *postrender.Knobs, found *discover.Result) string {
	if k.DatabaseProxyImage == "" || k.DatabasePods != "" || found.PostgreSQL == nil {
		return ""
	}
	k.DatabasePods = found.PostgreSQL.Pods
	return k.DatabasePods
}

// prior is what bootstrap left, for the stages that read it.
func (r *run) prior(ctx context.Context) (bootstrap.Result, error) {
	ns := r.res.Namespace
	switch {
	case r.in.Stage == ReadRequired:
		return bootstrap.Existing(ctx, r.client, ns, r.in.Release, r.in.Database)
	case r.in.Stage == ReadPrior && r.in.Release != "":
		return bootstrap.Prior(ctx, r.client, ns, r.in.Release, r.in.Database)
	}
	return bootstrap.Result{Namespace: ns}, nil
}

// overlay builds the values overlay: the Secrets of bootstrap (made now,
// or before) in Harbor's namespace stand in for the clusters' own.
func (r *run) overlay(prior bootstrap.Result) error {
	spec := *r.in.Overlay
	spec.HarborNamespace = r.res.Namespace
	spec.Bootstrapped = r.in.Stage == Create || prior.Database != nil
	ov, err := values.Build(r.res.Found, spec)
	if err != nil {
		return err
	}
	r.res.Overlay = ov
	r.say("values overlay: PostgreSQL %s, Redis %s", r.res.Found.PostgreSQL.Ref(), r.res.Found.Redis.Ref())
	return nil
}

// bootstrap does what the stage says about bootstrap's objects.
func (r *run) bootstrap(ctx context.Context, prior bootstrap.Result) (bootstrap.Result, error) {
	switch r.in.Stage {
	case ReadPrior:
		r.sayMissing(prior)
	case Create, CreateGenerated:
		return r.create(ctx)
	case DryRun:
		doc, err := bootstrap.DryRun(r.spec())
		r.res.DryRun = doc
		return prior, err
	}
	return prior, nil
}

// sayMissing tells a read-only run where the chart will still generate
// values on every render.
func (r *run) sayMissing(prior bootstrap.Result) {
	if g := prior.Generated; g != nil && len(g.Missing()) > 0 {
		r.say("Secrets %s do not exist yet, so the chart generates those values on every render (install, upgrade or bootstrap %s creates them)", strings.Join(g.Missing(), ", "), r.in.Release)
	} else if r.in.Release == "" {
		r.say("no RELEASE, so no generated Secrets: the chart generates its secrets on every render")
	}
}

// create bootstraps the role and user (Stage Create), then ensures the
// generated values' Secrets.
func (r *run) create(ctx context.Context) (bootstrap.Result, error) {
	if r.in.Release == "" {
		return bootstrap.Result{}, fmt.Errorf("%s needs RELEASE to name the Secrets it creates (--generate-name cannot be used)", r.in.Command)
	}
	res := bootstrap.Result{Namespace: r.res.Namespace}
	if r.in.Stage == Create {
		r.say("bootstrapping Harbor's database and users (--no-bootstrap skips this)")
		var err error
		if res, err = bootstrap.Run(ctx, r.client, r.spec()); err != nil {
			return res, err
		}
	}
	r.say("the values the chart would generate, in Secrets created once (--rotate=NAME changes one)")
	g, err := generated.Ensure(ctx, r.client, r.in.Bootstrap.Generated(r.in.Release, r.res.Namespace, r.progress))
	if err != nil {
		return res, err
	}
	res.Generated = &g
	return res, nil
}

func (r *run) spec() bootstrap.Spec {
	return r.in.Bootstrap.Spec(r.in.Release, r.res.Namespace, r.in.Database, r.res.Found, r.progress)
}

// point points the overlay at what bootstrap made and learns the Secret
// of the Redis password: bootstrap's, or the discovered one in Harbor's
// namespace. A Secret the user named (--redis-password-secret, or its
// config key) wins.
func (r *run) point() error {
	chart := r.in.Overlay.Chart
	settings, err := r.res.Bootstrap.Settings(chart.RedisUsername)
	if err != nil {
		return err
	}
	if len(settings) > 0 {
		if err := r.res.Overlay.Set(settings); err != nil {
			return err
		}
	}
	if db := r.res.Bootstrap.Database; db != nil && db.MaxConnections > 0 && r.res.Knobs.DatabaseMaxConnections == 0 {
		r.res.MaxConnections = db.MaxConnections
		r.res.Knobs.DatabaseMaxConnections = db.MaxConnections
	}
	if r.res.Knobs.RedisPasswordSecret != "" {
		return nil
	}
	ref, err := r.res.Bootstrap.RedisRef(r.res.Found, r.res.Namespace, chart)
	if err != nil {
		return err
	}
	r.res.Redis = &ref
	r.res.Knobs, err = r.res.Knobs.WithRedisSecret(ref.Secret, ref.Key, ref.Username)
	return err
}
