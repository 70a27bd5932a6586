package postrender

import (
	"io"

	"github.com/spf13/pflag"
)

func containsJSON[T any](list []T, v T) bool {
	for _, x := range list {
		if equalJSON(x, v) {
			return true
		}
	}
	return false
}

// parseKnobs parses a post-render argument list the way the post-render
// command does: one flag set, Flags.Add, then Resolve.
func parseKnobs(args []string) (Knobs, []string, error) {
	var f Flags
	fs := pflag.NewFlagSet("post-render", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Add(fs)
	if err := fs.Parse(args); err != nil {
		return Knobs{}, nil, err
	}
	o, err := f.Resolve()
	return o, fs.Args(), err
}
