// Package doctor checks a live Harbor release the way the KubeBlocks Harbor
// guide's post-install checks and HA test do, as one command: `helm
// harborha doctor RELEASE`.
//
// Per component it compares desired and Ready replicas, checks that the
// pods run on at least 2 nodes (and 2 zones where the nodes carry zone
// labels), that one PodDisruptionBudget selects them and allows a
// disruption now, and reports pods Pending for long with the scheduler's
// reason. It checks the claims multi-replica components mount (Bound,
// ReadWriteMany). From the addresses in Harbor's live configuration it
// finds the Services and the KubeBlocks clusters Harbor really uses, and
// checks that each is Running, that its primary Service has exactly one
// endpoint and that it is the pod labelled primary, that the database
// pods run on distinct nodes, that Harbor's address is still the one
// discovery would choose (a Service recreated with a new ClusterIP leaves
// Harbor pointing at nothing), that every Redis data pod is one
// bootstrap gave Harbor's ACL user (acl.go), and that Redis takes the
// registry's login (registry.go: its config, its logs). With --drill it
// breaks things in turn — one pod of each component, the database's or
// Redis's primary (a Switchover OpsRequest, or --crash) — while a probe
// pushes, pulls and calls the API through Harbor itself, and reports what
// each fault cost (drill*.go, opsrequest.go).
//
// API calls are bounded: one list per kind with label selectors (list.go);
// no password is ever read into the report (Redis URLs lose their
// userinfo as they are read).
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// Exit statuses: healthy, findings, could not check.
const (
	ExitHealthy    = 0
	ExitFindings   = 1
	ExitUnverified = 2
)

// Defaults of the flags.
const (
	DefaultPendingAfter = 2 * time.Minute
	DefaultDrillTimeout = 5 * time.Minute
	DefaultSettle       = 10 * time.Second
	// CheckTimeout bounds the checks (not the drill): an unreachable or
	// overloaded API server must not hang the command.
	CheckTimeout = time.Minute
)

// Options are `helm harborha doctor RELEASE`, in kubectl's shape: AddFlags
// binds the flags, Complete takes the release, Validate checks the flags,
// Run checks the release.
type Options struct {
	Output         output.Format
	PendingAfter   time.Duration
	PGNamespace    string
	RedisNamespace string
	Drill          string // comma list of pod, database, redis ("" no drill)
	Crash          bool   // database/redis: delete the primary instead of a Switchover
	Yes            bool
	Timeout        time.Duration // per fault, in the drill
	Settle         time.Duration // the probe goes on this long after writes are back
	Harbor         HarborFlags

	Release string

	kube *kube.Flags
	// Seams for tests (nil: the real thing).
	isTerminal func(io.Reader) bool
	progress   io.Writer
	now        func() time.Time
	baseline   time.Duration // probe before each fault (0: DefaultBaseline)
	probePause time.Duration // between a probe worker's rounds and writes (0: probe.DrillLoad's)
}

// AddFlags defines Helm's connection flags and the command's on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.kube = kube.NewFlags()
	o.kube.AddFlags(fs)
	output.AddFlag(fs, &o.Output, "", output.Text, output.JSON)
	fs.DurationVar(&o.PendingAfter, "pending-after", DefaultPendingAfter, "a pod Pending longer than this is a finding (with the scheduler's reason)")
	fs.StringVar(&o.PGNamespace, "pg-namespace", "", "namespace of the PostgreSQL cluster when Harbor addresses it by ClusterIP and it is not in Harbor's (-n)")
	fs.StringVar(&o.RedisNamespace, "redis-namespace", "", "namespace of the Redis cluster when Harbor addresses it by ClusterIP and it is not in Harbor's (-n)")
	fs.StringVar(&o.Drill, "drill", "", "failover drill, while a probe pushes, pulls and calls the API through Harbor: pod (one pod of each component in turn; --drill alone), database, redis (the primary: a Switchover OpsRequest, or --crash); a comma list runs them in turn")
	fs.Lookup("drill").NoOptDefVal = drillPod
	fs.BoolVar(&o.Crash, "crash", false, "with --drill=database or redis: delete the primary pod with no grace period instead of a Switchover OpsRequest")
	fs.BoolVar(&o.Yes, "yes", false, "with --drill: do not ask for confirmation")
	fs.DurationVar(&o.Timeout, "timeout", DefaultDrillTimeout, "with --drill: how long each fault may take to be over (pods Ready again, the primary moved) and Harbor's writes to be back")
	fs.DurationVar(&o.Settle, "settle", DefaultSettle, "with --drill: how long the probe goes on after writes are back")
	o.Harbor.AddFlags(fs)
}

// Complete takes the release, the one argument.
func (o *Options) Complete(args []string) (err error) {
	for _, a := range args {
		if _, err := drillKinds(a); err == nil && a != "" && o.Drill != "" && len(args) > 1 {
			// --drill takes its value after "=" only: alone it is the pod drill.
			return fmt.Errorf("--drill %s: write --drill=%s (--drill alone is the pod drill)", a, a)
		}
	}
	o.Release, err = command.OneArg(args, "doctor needs the Helm release name, and only that argument: helm harborha doctor RELEASE [flags]")
	return err
}

// Validate refuses flags that cannot mean anything.
func (o *Options) Validate() error {
	switch {
	case o.PendingAfter <= 0:
		return fmt.Errorf("--pending-after %s: use a positive duration such as 2m", o.PendingAfter)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout %s: use a positive duration such as 5m", o.Timeout)
	case o.Settle < 0:
		return fmt.Errorf("--settle %s: use a duration such as 10s", o.Settle)
	case o.Yes && o.Drill == "":
		return errors.New("--yes confirms the drill: add --drill, or drop --yes")
	}
	kinds, err := drillKinds(o.Drill)
	switch {
	case err != nil:
		return err
	case o.Crash && !slices.Contains(kinds, drillDatabase) && !slices.Contains(kinds, drillRedis):
		return errors.New("--crash deletes a database's or Redis's primary: add --drill=database or --drill=redis, or drop --crash")
	}
	return o.Harbor.validate(o.Drill != "", o.Yes)
}

// Run connects the way Helm does, checks the release (and drills it with
// --drill) and writes the report to s.Out; progress of the drill and its
// confirmation prompt go to s.Err. Findings are a command.ExitError of
// status ExitFindings; any other error means the release could not be
// checked at all (ExitUnverified), and the report is then not written.
func (o *Options) Run(ctx context.Context, s command.Streams) error {
	c, err := kube.Connect(o.kube.Settings(), kube.Options{})
	if err != nil {
		return err
	}
	r, err := o.check(ctx, c)
	if err != nil {
		return err
	}
	if o.Drill != "" {
		if err := o.drillAll(ctx, c, r, s); err != nil {
			return err
		}
	}
	if err := o.Output.Write(s.Out, r); err != nil {
		return err
	}
	if code := r.Code(); code != ExitHealthy {
		return &command.ExitError{Code: code} // the report says why
	}
	return nil
}

// check runs the checks within CheckTimeout.
func (o *Options) check(ctx context.Context, c *kube.Client) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return Diagnose(ctx, c, o)
}
