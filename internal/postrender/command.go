package postrender

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/output"
)

// ErrorFileEnv names a file the post-renderer also writes its error to:
// Helm 4 swallows a post-renderer's stderr, so the wrapper reads it there.
const ErrorFileEnv = "HARBORHA_POSTRENDER_ERROR_FILE"

// Help is the post-render command's help, before its flags.
const Help = `Usage: harborha post-render [flags] < rendered.yaml > ha.yaml

Turns the rendered goharbor/harbor chart into a highly-available topology.
Use it as Helm's post-renderer:
  Helm 3: helm install ... --post-renderer "$HELM_PLUGIN_DIR/bin/harborha-post-render" [--post-renderer-args FLAG ...]
          (or --post-renderer "$HELM_BIN" --post-renderer-args harborha --post-renderer-args post-render ...)
  Helm 4: helm install ... --post-renderer harborha-post-renderer [--post-renderer-args FLAG ...]

Flags:
`

// A post-render process is a filter that lives for one stream: it does
// not collect garbage as its heap grows, only near a soft limit sized by
// its input. One release's manifests (the 1.19.1 chart renders 47 KB)
// allocate about 200 times their size and keep little, so under the 24 MiB
// floor it never collects and stays within ~25 MiB. A stream of many
// releases keeps about twelve times its size alive; at 96 times, the
// collector runs rarely, and never without end. Past 128 MiB and 32
// times the input, though, one collection of that live heap costs less
// than the fresh pages it saves faulting in: 100 releases (4.7 MB)
// collect at ~280 MiB rather than ~430, 7% faster.
const (
	minHeapLimit     = 24 << 20
	heapPerInputByte = 96
	headroom         = 128 << 20
	headroomPerByte  = 32
)

func setGC(streamSize int) {
	debug.SetGCPercent(-1)
	limit := min(heapPerInputByte*streamSize, headroom+headroomPerByte*streamSize)
	debug.SetMemoryLimit(int64(max(minHeapLimit, limit)))
}

// Options are `harborha post-render`, as `harborha post-render` and the
// harborha-post-render binary run it: the knobs as flags, stdin to stdout.
type Options struct {
	Flags Flags
	knobs Knobs
}

// AddFlags defines the config flag and the knobs, in the order of the help.
func (c *Options) AddFlags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	c.Flags.Add(fs)
}

// Complete refuses arguments: post-render is a filter. Helm 4's
// post-renderer plugin, and Helm 3 through "$HELM_BIN harborha
// post-render", pass the postRendererArgs list that serves both
// ("harborha post-render ..."): those words are skipped.
func (c *Options) Complete(args []string) error {
	for len(args) > 0 && (args[0] == "harborha" || args[0] == "post-render") {
		args = args[1:]
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: post-render reads manifests on stdin and takes only flags", args[0])
	}
	return nil
}

// Validate resolves the knobs, once.
func (c *Options) Validate() (err error) {
	c.knobs, err = c.Flags.Resolve()
	return err
}

// Run post-renders stdin to stdout; the output is written only once
// complete, warnings go to s.Err.
func (c *Options) Run(_ context.Context, s command.Streams) error {
	r, err := New(c.knobs, s.Err)
	if err != nil {
		return err
	}
	debug.SetGCPercent(-1) // reading stdin leaves only garbage behind
	stream, err := io.ReadAll(s.In)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	setGC(len(stream))
	res, err := r.Run(bytes.NewBuffer(stream))
	if err != nil {
		return err
	}
	_, err = s.Out.Write(res.Bytes())
	return err
}

// ReportError also writes a failed post-render's message to the file
// ErrorFileEnv names: Helm 4 does not show a post-renderer's stderr.
func ReportError(err error) {
	if f := os.Getenv(ErrorFileEnv); f != "" && err != nil {
		_ = os.WriteFile(f, []byte(output.OneLine(err.Error())+"\n"), 0o600)
	}
}
