package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/helmrun"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/postrender"
)

func init() {
	register(command{
		name:    "post-render",
		summary: "read rendered goharbor manifests on stdin, write the HA topology on stdout",
		run:     runPostRender,
	})
}

const postRenderHelp = `Usage: harborha post-render [flags] < rendered.yaml > ha.yaml

Turns the rendered goharbor/harbor chart into a highly-available topology.
Use it as Helm's post-renderer:
  Helm 3: helm install ... --post-renderer "$HELM_BIN" --post-renderer-args harborha --post-renderer-args post-render [--post-renderer-args FLAG ...]
  Helm 4: helm install ... --post-renderer harborha-post-renderer [--post-renderer-args FLAG ...]

Flags:
`

// postRenderMemoryLimit is the heap size at which the post-renderer starts
// collecting garbage.
const postRenderMemoryLimit = 256 << 20

func runPostRender(ctx context.Context, s *streams, args []string) error {
	err := postRender(ctx, s, args)
	if err != nil {
		// Helm 4 swallows a post-renderer's stderr: leave the message where
		// the wrapper that started Helm can show it.
		if f := os.Getenv(helmrun.ErrorFileEnv); f != "" {
			_ = os.WriteFile(f, []byte(output.OneLine(err.Error())+"\n"), 0o600)
		}
	}
	return err
}

func postRender(_ context.Context, s *streams, args []string) error {
	// A filter that lives for one render: collect garbage only when the
	// heap nears a soft limit, not as it grows. A chart's output (~25 MB
	// allocated) then never collects; a stream of 100 releases still stays
	// under the limit's footprint.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(postRenderMemoryLimit)
	// Helm 4's post-renderer plugin runs "harborha post-render ARGS"; with
	// the postRendererArgs list that serves Helm 3 ("harborha post-render
	// ..."), ARGS starts with those two words again: skip them.
	for len(args) > 0 && (args[0] == "harborha" || args[0] == "post-render") {
		args = args[1:]
	}
	fs := pflag.NewFlagSet("post-render", pflag.ContinueOnError)
	fs.SortFlags = false
	var knobs postrender.Flags
	knobs.Add(fs)
	if done, err := parseFlags(fs, s, postRenderHelp, args, true); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: post-render reads manifests on stdin and takes only flags", fs.Arg(0))
	}
	opts, err := knobs.Resolve()
	if err != nil {
		return err
	}
	r, err := postrender.New(opts, s.err)
	if err != nil {
		return err
	}
	in, err := io.ReadAll(s.in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	out, err := r.Run(bytes.NewBuffer(in))
	if err != nil {
		return err
	}
	_, err = s.out.Write(out.Bytes())
	return err
}
