package discover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/harborha/helm-harborha/internal/kube"
)

// Timeout bounds a whole discovery: an unreachable server must not hang a
// command.
const Timeout = 60 * time.Second

// AddFlags defines the choice of clusters on fs, bound to o. The
// connection flags are Helm's (kube.Flags), added apart: the install
// wrappers leave those to Helm and read them back.
func (o *Query) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.PG, "pg", "", "the KubeBlocks PostgreSQL cluster (default: the only one in the namespace)")
	fs.StringVar(&o.Redis, "redis", "", "the KubeBlocks Redis cluster (default: the only one in the namespace)")
	fs.StringVar(&o.PGNamespace, "pg-namespace", "", "namespace of the PostgreSQL cluster (default: Harbor's, -n)")
	fs.StringVar(&o.RedisNamespace, "redis-namespace", "", "namespace of the Redis cluster (default: Harbor's, -n)")
	fs.BoolVar(&o.Sentinel, "redis-sentinel", false, "reach Redis through Sentinel (only when Sentinel and Redis share a password)")
	if o.Address == "" {
		o.Address = AddressClusterIP
	}
	fs.StringVar(&o.Address, "address", o.Address, "how Harbor addresses the services: clusterip, or dns (<service>.<namespace>.svc)")
}

// Find connects the way Helm does (settings) and discovers the clusters
// for Harbor's namespace (FindWith). The client is returned for the
// stages that follow (values, bootstrap).
func Find(ctx context.Context, settings *cli.EnvSettings, o Query) (*Result, *kube.Client, error) {
	c, err := kube.Connect(settings, kube.Options{})
	if err != nil {
		return nil, nil, err
	}
	r, err := FindWith(ctx, c, o)
	if err != nil {
		return nil, nil, err
	}
	return r, c, nil
}

// FindWith discovers the clusters for the client's namespace, bounded by
// Timeout, on a client the caller already has.
func FindWith(ctx context.Context, c *kube.Client, o Query) (*Result, error) {
	o.Namespace = c.Namespace
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	return Discover(ctx, c, o)
}

// Unhealthy returns an error naming every health problem of the clusters
// found, or nil. values and bootstrap refuse them unless forced.
func (r *Result) Unhealthy() error {
	var parts []string
	for _, e := range []*Endpoint{r.PostgreSQL, r.Redis} {
		if e != nil && !e.Healthy() {
			parts = append(parts, fmt.Sprintf("%s cluster %s is not ready (%s)", e.Engine.Title(), e.Ref(), strings.Join(e.Problems, "; ")))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}
