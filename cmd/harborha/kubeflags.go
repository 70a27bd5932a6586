package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
)

// discoveryTimeout bounds a whole discovery: an unreachable server must
// not hang the command.
const discoveryTimeout = 60 * time.Second

// discoveryFlags are the flags discover and values share: Helm's
// connection flags and the choice of clusters.
type discoveryFlags struct {
	kube *kube.Flags
	o    discover.Options
}

func addDiscoveryFlags(fs *pflag.FlagSet) *discoveryFlags {
	d := newDiscoveryFlags()
	d.kube.AddFlags(fs)
	d.addClusterFlags(fs)
	return d
}

func newDiscoveryFlags() *discoveryFlags { return &discoveryFlags{kube: kube.NewFlags()} }

// addClusterFlags adds the choice of clusters, without the connection
// flags (the install wrappers leave those to Helm and read them back).
func (d *discoveryFlags) addClusterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&d.o.PG, "pg", "", "the KubeBlocks PostgreSQL cluster (default: the only one in the namespace)")
	fs.StringVar(&d.o.Redis, "redis", "", "the KubeBlocks Redis cluster (default: the only one in the namespace)")
	fs.StringVar(&d.o.PGNamespace, "pg-namespace", "", "namespace of the PostgreSQL cluster (default: Harbor's, -n)")
	fs.StringVar(&d.o.RedisNamespace, "redis-namespace", "", "namespace of the Redis cluster (default: Harbor's, -n)")
	fs.BoolVar(&d.o.Sentinel, "redis-sentinel", false, "reach Redis through Sentinel (only when Sentinel and Redis share a password)")
	fs.StringVar(&d.o.Address, "address", discover.AddressClusterIP, "how Harbor addresses the services: clusterip, or dns (<service>.<namespace>.svc)")
}

// discover connects the way Helm does and runs discovery; warnings go to
// stderr, prefixed with the command's name.
func (d *discoveryFlags) discover(ctx context.Context, s *streams, cmd string, nodeAddress bool) (*discover.Result, *kube.Client, error) {
	c, err := kube.Connect(d.kube.Settings(), kube.Options{})
	if err != nil {
		return nil, nil, err
	}
	o := d.o
	o.Namespace = c.Namespace
	o.NodeAddress = nodeAddress
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	r, err := discover.Discover(ctx, c, o)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(s.err, "harborha %s: warning: %s\n", cmd, w)
	}
	return r, c, nil
}

// parseFlags parses a command's flags; --help prints help and the flags
// to stdout and reports done. Positional arguments are refused.
func parseFlags(fs *pflag.FlagSet, s *streams, help string, args []string) (done bool, err error) {
	fs.SetOutput(io.Discard) // errors are returned as one line, not printed by pflag
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			io.WriteString(s.out, help)
			fs.SetOutput(s.out)
			fs.PrintDefaults()
			return true, nil
		}
		return false, fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q: this command takes only flags (see --help)", fs.Arg(0))
	}
	return false, nil
}
