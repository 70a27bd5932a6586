// Package output is how every command writes its result: one -o flag
// vocabulary (text for people, json and yaml for tools, sarif for lint),
// parsed once when the flag is set, and one writer per format. It also
// holds the two conventions every message follows: one line per error
// (OneLine) and one marker in place of a secret (Redacted).
//
// Modelled on Helm's pkg/cli/output: a result implements Writer for its
// human form; JSON and YAML are encoded from the value itself.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Format is a value of -o/--output.
type Format string

// The formats. Each command accepts a subset (see AddFlag).
const (
	Text  Format = "text"
	JSON  Format = "json"
	YAML  Format = "yaml"
	SARIF Format = "sarif"
)

// table is the name discover's human form had; still accepted, as text.
const table = "table"

// Redacted stands for a password or key wherever output would show one.
const Redacted = "<redacted>"

// parse returns the format s names, if it is one of allowed. "table" is
// read as Text: the human form has one name now, but scripts may use the old.
func parse(s string, allowed []Format) (Format, bool) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if f == table {
		f = Text
	}
	return f, slices.Contains(allowed, f)
}

// list is the formats as a help text lists them: "text, json or yaml".
func list(formats []Format) string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// flag is the pflag.Value of -o: a bad format fails at parse time, before
// a command does anything.
type flag struct {
	f       *Format
	allowed []Format
}

func (v flag) String() string { return string(*v.f) }
func (v flag) Type() string   { return "format" }

func (v flag) Set(s string) error {
	f, ok := parse(s, v.allowed)
	if !ok {
		return fmt.Errorf("use one of %s", list(v.allowed))
	}
	*v.f = f
	return nil
}

// AddFlag defines -o/--output on fs, bound to f, defaulting to the first
// allowed format.
func AddFlag(fs *pflag.FlagSet, f *Format, usage string, allowed ...Format) {
	*f = allowed[0]
	if usage != "" {
		usage = ": " + usage
	}
	fs.VarP(flag{f, allowed}, "output", "o", "output format, "+list(allowed)+usage)
}

// Writer is a result with a human form; its JSON and YAML forms are the
// value itself, encoded.
type Writer interface {
	WriteText(out io.Writer) error
}

// Write writes v in format f. The document is built whole before any of
// it reaches out, so a failure never leaves half-written output.
func (f Format) Write(out io.Writer, v Writer) error {
	var b bytes.Buffer
	var err error
	switch f {
	case Text:
		err = v.WriteText(&b)
	case JSON:
		err = EncodeJSON(&b, v)
	case YAML:
		err = EncodeYAML(&b, v)
	default:
		err = fmt.Errorf("-o/--output %q: this result has no such form", f)
	}
	if err != nil {
		return err
	}
	_, err = out.Write(b.Bytes())
	return err
}

// EncodeJSON writes v as indented JSON and a newline.
func EncodeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// EncodeYAML writes v as YAML, through its JSON form (json tags apply).
func EncodeYAML(out io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// OneLine folds a message onto one line: errors from libraries may span
// several, and every message here is one line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Count is n and the noun, plural unless n is 1: "1 pod", "2 pods".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Warn writes warnings as every command does: one line each, prefixed with
// the command's name ("harborha post-render: warning: ...").
func Warn(w io.Writer, command string, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "harborha %s: warning: %s\n", command, s)
	}
}

// ColorTerminal reports whether w is a terminal that may get colour: a
// character device, and NO_COLOR (https://no-color.org) unset.
func ColorTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
