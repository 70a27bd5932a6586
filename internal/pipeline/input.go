package pipeline

import (
	"fmt"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// Stage is what a run does about bootstrap's objects.
type Stage int

const (
	// ReadNothing: the overlay points at the clusters' own Secrets
	// (values without --bootstrapped).
	ReadNothing Stage = iota
	// ReadPrior reads whatever bootstrap left for the release, requiring
	// nothing: template, Helm's --dry-run and export change nothing.
	ReadPrior
	// ReadRequired reads what bootstrap created, which must exist
	// (values --bootstrapped RELEASE).
	ReadRequired
	// CreateGenerated creates only the generated values' Secrets
	// (install and upgrade with --no-bootstrap).
	CreateGenerated
	// Create creates the role and database, the Redis user or copy, and
	// the generated values' Secrets (install, upgrade, bootstrap).
	Create
	// DryRun shows what Create would create, creating nothing
	// (bootstrap --dry-run).
	DryRun
)

// InstallStage is the stage of a wrapper's run: template and Helm's
// --dry-run change nothing in the cluster, so neither do we.
func (f *Flags) InstallStage(action string, dryRun bool) Stage {
	switch {
	case action == "template" || dryRun:
		return ReadPrior
	case f.NoBootstrap:
		return CreateGenerated
	}
	return Create
}

// Input is the spine's input, resolved once.
type Input struct {
	// Command names the command in warnings ("harborha values: warning:").
	Command string
	// Release is the Helm release; "" when Helm names it.
	Release string
	Stage   Stage
	// Steps: say each step on the progress stream, as the wrappers do.
	Steps   bool
	Cluster *Cluster
	// Knobs are the post-render knobs as resolved; the Result's add the
	// Redis Secret the run learns, unless the user named one.
	Knobs postrender.Knobs
	Query discover.Query
	// Overlay shapes the values overlay; nil: the run builds none
	// (bootstrap). Its Chart is the caller's to set.
	Overlay   *values.Spec
	Bootstrap bootstrap.Flags
	// Database is the one Harbor's core uses, owned by bootstrap's role.
	Database string
	Health   Health
}

// Validate refuses what cannot mean anything before the cluster is asked.
func (in *Input) Validate() error {
	if err := bootstrap.CheckRotate(in.Bootstrap.Rotate); err != nil {
		return err
	}
	if in.Overlay != nil {
		return in.Overlay.Validate()
	}
	return nil
}

// Health is the check that the clusters are Running with a primary pod.
type Health struct {
	Force bool   // accept them anyway, with a warning
	Flag  string // the flag that sets Force, for messages
}

// check returns a warning when Force accepts a problem, and the error
// otherwise, which says what the primary is needed for: the values
// (overlay), or bootstrap.
func (h Health) check(found *discover.Result, overlay bool) (warning string, err error) {
	problem := found.Unhealthy()
	switch {
	case problem == nil:
		return "", nil
	case h.Force:
		return fmt.Sprintf("--%s: %v", h.Flag, problem), nil
	case overlay:
		return "", fmt.Errorf("%v: wait until KubeBlocks reports it Running with a primary pod, or pass --%s to write the values anyway", problem, h.Flag)
	}
	return "", fmt.Errorf("%v: bootstrap needs the primary; wait until KubeBlocks reports the cluster Running with a primary pod, or pass --%s", problem, h.Flag)
}
