package helmexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/harborha/helm-harborha/internal/postrender"
)

// Run is one invocation of the user's Helm.
type Run struct {
	Helm       string   // the helm binary ($HELM_BIN)
	Major      int      // 3 or 4, from Major()
	Action     string   // install, upgrade or template
	HelmArgs   []string // the user's arguments, passed through untouched
	Overlay    []byte   // values overlay; nil for none (--no-discover)
	PostRender []string // post-render knobs, as the post-renderer process takes them
	// Self is how Helm 3 reaches our post-renderer (PostRendererCommand):
	// the post-render binary, or "$HELM_BIN harborha post-render".
	Self     []string
	Env      []string // the child's environment (nil: ours)
	Stdout   io.Writer
	Stderr   io.Writer
	Progress io.Writer // our progress lines
}

// Args builds Helm's argument list: the action, our overlay as the FIRST
// values file (the user's -f and --set come after it and win), our
// post-renderer, then the user's arguments (Prepare refused a
// --post-renderer among them before anything ran).
func (r *Run) Args(overlayPath string) ([]string, error) {
	args := []string{r.Action}
	if overlayPath != "" {
		args = append(args, "--values", overlayPath)
	}
	var prArgs []string
	switch r.Major {
	case 3:
		if len(r.Self) == 0 {
			return nil, errors.New("no post-renderer command for Helm 3")
		}
		args = append(args, "--post-renderer", r.Self[0])
		prArgs = append(prArgs, r.Self[1:]...)
	case 4:
		args = append(args, "--post-renderer", Helm4PostRenderer)
	default:
		return nil, fmt.Errorf("unsupported Helm major %d", r.Major)
	}
	prArgs = append(prArgs, r.PostRender...)
	for _, a := range prArgs {
		args = append(args, "--post-renderer-args", a)
	}
	return append(args, r.HelmArgs...), nil
}

// Prepare checks, before anything changes, what every wrapper run needs:
// no --post-renderer of the user's among Helm's arguments (harborha
// attaches its own), the Helm major (major: Major, or a test's seam) and,
// on Helm 4, our post-renderer plugin. It returns the major.
func Prepare(ctx context.Context, helm string, rel *Release, major func(context.Context, string) (int, error)) (int, error) {
	if slices.Contains(rel.Flags, "--post-renderer") {
		return 0, errors.New("--post-renderer: harborha attaches its own post-renderer; apply your own patches with --kustomize DIR instead")
	}
	m, err := major(ctx, helm)
	if err != nil {
		return 0, err
	}
	if m == 4 {
		if err := RequirePlugin(ctx, helm, Helm4PostRenderer); err != nil {
			return 0, err
		}
	}
	return m, nil
}

// Exec runs Helm and returns its exit status. The overlay holds no
// password, yet it names the cluster's Secrets and addresses: it lives in
// a private temporary directory (mode 0600) only while Helm runs, and is
// removed on success, on failure and on an interrupt.
func (r *Run) Exec(ctx context.Context) (code int, err error) {
	tmp, err := os.MkdirTemp("", "harborha-")
	if err != nil {
		return 1, fmt.Errorf("creating a private temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	var overlayPath string
	if r.Overlay != nil {
		overlayPath = filepath.Join(tmp, "overlay.yaml")
		if err := os.WriteFile(overlayPath, r.Overlay, 0o600); err != nil {
			return 1, fmt.Errorf("writing the values overlay: %w", err)
		}
	}
	args, err := r.Args(overlayPath)
	if err != nil {
		return 1, err
	}
	errFile := filepath.Join(tmp, "post-render.err")

	cmd := exec.Command(r.Helm, args...)
	cmd.Env = append(r.env(), postrender.ErrorFileEnv+"="+errFile)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = r.Stdout, r.Stderr
	fmt.Fprintf(r.Progress, "harborha: running helm %s (Helm %d, post-renderer: %s)\n", r.Action, r.Major, strings.Join(append([]string{"post-render"}, r.PostRender...), " "))
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting %s: %w", r.Helm, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Interrupted: let Helm stop cleanly (it handles SIGINT), then clean up.
		_ = cmd.Process.Signal(syscall.SIGINT)
		err = <-done
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 1, fmt.Errorf("running %s: %w", r.Helm, err)
		}
		code = ee.ExitCode()
		if code < 0 { // killed by a signal
			code = 130
		}
		if b, readErr := os.ReadFile(errFile); readErr == nil && len(bytes.TrimSpace(b)) > 0 && r.Major == 4 {
			fmt.Fprintf(r.Stderr, "harborha: the post-renderer failed (Helm 4 does not show its message): %s\n", strings.TrimSpace(string(b)))
		}
		return code, nil
	}
	return 0, nil
}

func (r *Run) env() []string {
	if r.Env != nil {
		return r.Env
	}
	return os.Environ()
}
