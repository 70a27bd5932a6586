package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/output"
)

// Command is `helm harborha bootstrap RELEASE`, in kubectl's shape:
// AddFlags binds the flags, Complete takes the arguments, Validate checks
// everything that needs no cluster, Run does the work.
type Command struct {
	Flags     Flags
	Discovery discover.Options
	Database  string
	DryRun    bool
	Force     bool
	Output    output.Format

	release     string
	outputGiven bool
}

// AddFlags defines the command's flags (not the connection flags) on fs.
func (c *Command) AddFlags(fs *pflag.FlagSet) {
	c.Discovery.AddFlags(fs)
	c.Flags.AddFlags(fs, "timeout")
	fs.StringVar(&c.Database, "database", DefaultDatabase, "PostgreSQL database for Harbor, owned by --db-user")
	fs.BoolVar(&c.DryRun, "dry-run", false, "print the Secrets and Jobs as YAML (passwords redacted) and create nothing")
	output.AddFlag(fs, &c.Output, "with --dry-run only yaml", output.Text, output.JSON, output.YAML)
	fs.BoolVar(&c.Force, "force", false, "bootstrap even when a cluster is not Running or has no primary pod")
}

// Complete takes the positional arguments left by fs.
func (c *Command) Complete(fs *pflag.FlagSet) error {
	if fs.NArg() != 1 {
		return errors.New("bootstrap needs the Helm release name, and only that argument: helm harborha bootstrap RELEASE [flags]")
	}
	c.release = fs.Arg(0)
	c.outputGiven = fs.Changed("output")
	return nil
}

// Validate refuses what cannot mean anything before a cluster is asked.
func (c *Command) Validate() error {
	if c.DryRun && c.outputGiven && c.Output != output.YAML {
		return fmt.Errorf("--dry-run prints YAML: drop -o %s", c.Output)
	}
	return CheckRotate(c.Flags.Rotate)
}

// Run discovers the clusters, bootstraps them (or prints what it would
// create) and writes the result to out; progress and warnings go to errOut.
func (c *Command) Run(ctx context.Context, settings *cli.EnvSettings, out, errOut io.Writer) error {
	found, client, err := discover.Find(ctx, settings, c.Discovery)
	if err != nil {
		return err
	}
	output.Warn(errOut, "bootstrap", found.Warnings)
	if err := found.Unhealthy(); err != nil {
		if !c.Force {
			return fmt.Errorf("%v: bootstrap needs the primary; wait until KubeBlocks reports the cluster Running with a primary pod, or pass --force", err)
		}
		fmt.Fprintf(errOut, "harborha bootstrap: warning: --force: %v\n", err)
	}
	o := c.Flags.Options(c.release, client.Namespace, c.Database, found, errOut)
	if c.DryRun {
		doc, err := DryRun(o)
		if err != nil {
			return err
		}
		_, err = out.Write(doc)
		return err
	}
	res, err := Run(ctx, client, o)
	if err != nil {
		return err
	}
	g, err := generated.Ensure(ctx, client, c.Flags.Generated(c.release, client.Namespace, errOut))
	if err != nil {
		return err
	}
	res.Generated = &g
	return c.Output.Write(out, res)
}
