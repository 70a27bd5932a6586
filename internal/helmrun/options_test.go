package helmrun

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/pipeline"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// newOptions is a wrapper's options with our flags on a fresh set, and
// seams that record the Helm run instead of exec'ing helm.
func newOptions(t *testing.T, action string, major int) (*Options, *[]*helmexec.Run) {
	t.Helper()
	o := NewOptions(action, "helm-harborha test")
	o.AddFlags(pflag.NewFlagSet(action, pflag.ContinueOnError))
	var runs []*helmexec.Run
	o.major = func(context.Context, string) (int, error) { return major, nil }
	o.exec = func(_ context.Context, r *helmexec.Run) (int, error) { runs = append(runs, r); return 0, nil }
	return o, &runs
}

func TestOptionsCompleteAndRun(t *testing.T) {
	t.Setenv("HELM_BIN", "/opt/helm")
	t.Setenv("HELM_PLUGIN_DIR", "/plugins/harborha")
	o, runs := newOptions(t, "template", 3)
	args := []string{"myharbor", "./harbor.tgz", "-n", "harbor", "--replicas", "3", "--no-discover", "-f", "v.yaml", "--zone-spread", "--", "--wait"}
	if err := o.Complete(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context(), command.Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(*runs) != 1 {
		t.Fatalf("%d Helm runs, want 1", len(*runs))
	}
	r := (*runs)[0]
	want := &helmexec.Run{Helm: "/opt/helm", Major: 3, Action: "template",
		HelmArgs:   []string{"myharbor", "./harbor.tgz", "-n", "harbor", "-f", "v.yaml", "--wait"},
		PostRender: []string{"--replicas=3", "--zone-spread=true"},
		Self:       []string{"/opt/helm", "harborha", "post-render"}}
	got := *r
	got.Stdout, got.Stderr, got.Progress = nil, nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Helm run\n got %+v\nwant %+v", got, *want)
	}
	if o.Release.Name != "myharbor" || o.Release.Chart != "./harbor.tgz" {
		t.Errorf("release %q chart %q", o.Release.Name, o.Release.Chart)
	}
}

// Bad arguments fail in Complete or Validate: before Helm or the cluster
// is asked anything.
func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		action string
		args   []string
		want   string
	}{
		{"install", []string{"--no-discover"}, "install needs the chart"},
		{"install", []string{"r", "c", "--replicas", "0"}, "--replicas: 0 is out of range"},
		{"install", []string{"r", "c", "--replicas"}, "flag --replicas needs a value"},
		{"upgrade", []string{"r", "c", "--sslmode", "prefer"}, `--sslmode "prefer"`},
		{"template", []string{"r", "c", "--no-bootstrap"}, ""}, // --no-bootstrap is not a template flag: Helm's
		{"install", []string{"r", "c", "--bootstrap-timeout", "-1s"}, ""},
		{"install", []string{"r", "c", "--config", "/does/not/exist"}, "--config: cannot read /does/not/exist"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.action}, tt.args...), " "), func(t *testing.T) {
			o, runs := newOptions(t, tt.action, 3)
			err := o.Complete(tt.args)
			if err == nil {
				err = o.Validate()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if len(*runs) != 0 {
				t.Errorf("Helm ran")
			}
		})
	}
}

// Bootstrap runs for install and upgrade, unless --no-bootstrap or Helm's
// --dry-run (in any of its forms) say the cluster must not change.
func TestBootstraps(t *testing.T) {
	tests := []struct {
		action string
		args   []string
		want   bool
	}{
		{"install", nil, true},
		{"upgrade", []string{"--install"}, true},
		{"template", nil, false},
		{"install", []string{"--no-bootstrap"}, false},
		{"install", []string{"--dry-run=server"}, false},
		{"upgrade", []string{"--dry-run"}, false},
		{"upgrade", []string{"--dry-run=none"}, true},
	}
	for _, tt := range tests {
		o, _ := newOptions(t, tt.action, 3)
		if err := o.Complete(append([]string{"r", "c"}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		if got := o.input.Stage == pipeline.Create; got != tt.want {
			t.Errorf("%s %q: bootstraps = %v, want %v", tt.action, tt.args, got, tt.want)
		}
	}
}

// TestChartOfRelease: a repository chart the wrappers do not download is
// known by an exact --version only; a range, or none, is the current chart
// assumed (export, which downloads it, writes for the very chart loaded).
func TestChartOfRelease(t *testing.T) {
	o, _ := newOptions(t, "template", 3)
	if err := o.Complete([]string{"myharbor", "goharbor/harbor", "--version", "~1.11"}); err != nil {
		t.Fatal(err)
	}
	guessed, err := values.ChartOfRelease(o.Release.Chart, o.Release.Version)
	if err != nil || !guessed.RedisUsername || guessed.Version != "" {
		t.Fatalf("without a loaded chart: want the assumed current chart, got %+v, %v", guessed, err)
	}
	exact, err := values.ChartOfRelease("goharbor/harbor", "1.11.0")
	if err != nil || exact.RedisUsername || exact.Version != "1.11.0" {
		t.Errorf("an exact --version: want chart 1.11.0 without a Redis username, got %+v, %v", exact, err)
	}
}

// TestFrontDoorFlags: the front door (helmexec.FastTemplate) knows every
// flag of template: the knobs and --no-discover it handles, and
// helmexec.FullOnlyFlags with the same "takes a value or not", so that it
// splits the arguments exactly as Complete does; and the full binary's
// Validate accepts its defaults, as the front door assumes.
func TestFrontDoorFlags(t *testing.T) {
	o := NewOptions("template", "helm-harborha test")
	full := pflag.NewFlagSet("template", pflag.ContinueOnError)
	o.AddFlags(full)
	var knobs postrender.Flags
	front := pflag.NewFlagSet("front", pflag.ContinueOnError)
	knobs.Add(front)
	front.Bool("no-discover", false, "")
	full.VisitAll(func(f *pflag.Flag) {
		noOpt, fullOnly := helmexec.FullOnlyFlags[f.Name]
		if handled := front.Lookup(f.Name); handled != nil {
			if fullOnly {
				t.Errorf("--%s is both handled by the front door and in helmexec.FullOnlyFlags", f.Name)
			}
			if handled.NoOptDefVal != f.NoOptDefVal {
				t.Errorf("--%s: NoOptDefVal %q in the front door, %q in the full binary", f.Name, handled.NoOptDefVal, f.NoOptDefVal)
			}
			return
		}
		if !fullOnly {
			t.Errorf("--%s of the full binary's template is missing from helmexec.FullOnlyFlags", f.Name)
		} else if noOpt != f.NoOptDefVal {
			t.Errorf("helmexec.FullOnlyFlags[%q] = %q, the flag's NoOptDefVal is %q", f.Name, noOpt, f.NoOptDefVal)
		}
	})
	for name := range helmexec.FullOnlyFlags {
		if full.Lookup(name) == nil {
			t.Errorf("helmexec.FullOnlyFlags has --%s, which template does not define", name)
		}
	}
	if err := o.Complete([]string{"chart"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("template's defaults do not validate: %v", err)
	}
}

// TestFrontDoorRunsWhatTheFullBinaryRuns: for `template --no-discover`
// the front door builds the very Helm run the full binary builds, on
// Helm 3 and 4; anything else it leaves to the full binary.
func TestFrontDoorRunsWhatTheFullBinaryRuns(t *testing.T) {
	handled := [][]string{
		{"template", "rel", "chart", "--no-discover"},
		{"template", "--no-discover", "rel", "chart", "-f", "v.yaml", "--replicas=3", "--zone-spread", "--set", "a=b"},
		{"template", "chart", "--no-discover", "--shared-pvc", "shared", "--create-shared-pvc", "--", "--replicas", "x"},
	}
	left := map[string][]string{
		"discovery":          {"template", "rel", "chart"},
		"a full-only flag":   {"template", "rel", "chart", "--no-discover", "--tls"},
		"its value no chart": {"template", "rel", "--no-discover", "--database", "harbor"},
		"help":               {"template", "--no-discover", "--help"},
		"another command":    {"install", "rel", "chart", "--no-discover", "--no-preflight"},
		"a bad knob":         {"template", "rel", "chart", "--no-discover", "--replicas=many"},
		"no chart":           {"template", "--no-discover"},
		"own post-renderer":  {"template", "rel", "chart", "--no-discover", "--post-renderer", "x"},
		"flag without value": {"template", "rel", "chart", "--no-discover", "--shared-pvc"},
	}
	for _, major := range []int{3, 4} {
		plugins := t.TempDir()
		t.Setenv("HELM_BIN", "/opt/helm")
		t.Setenv("HELM_PLUGIN_DIR", filepath.Join(plugins, "harborha"))
		t.Setenv("HELM_PLUGINS", plugins)
		if major == 4 {
			t.Setenv("HELM_CONTENT_CACHE", t.TempDir())
			dir := filepath.Join(plugins, helmexec.Helm4PostRenderer)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte("name: "+helmexec.Helm4PostRenderer+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range handled {
			fast, ok := helmexec.TemplateRun(context.Background(), args, nil, nil)
			if !ok {
				t.Errorf("Helm %d: the front door leaves %q to the full binary", major, args)
				continue
			}
			o, runs := newOptions(t, "template", major)
			if err := o.Complete(args[1:]); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(context.Background(), command.Streams{Out: io.Discard, Err: io.Discard}); err != nil || len(*runs) != 1 {
				t.Fatalf("full binary: %v", err)
			}
			full := (*runs)[0]
			full.Stdout, full.Stderr, full.Progress = nil, nil, nil
			if !reflect.DeepEqual(fast, full) {
				t.Errorf("Helm %d, %q:\nfront door %+v\nfull binary %+v", major, args, fast, full)
			}
		}
		for why, args := range left {
			if _, ok := helmexec.TemplateRun(context.Background(), args, nil, nil); ok {
				t.Errorf("Helm %d: the front door runs %q itself (%s)", major, args, why)
			}
		}
	}
}
