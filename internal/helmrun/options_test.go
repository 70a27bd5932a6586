package helmrun

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/values"
)

// newOptions is a wrapper's options with our flags on a fresh set, and
// seams that record the Helm run instead of exec'ing helm.
func newOptions(t *testing.T, action string, major int) (*Options, *[]*Run) {
	t.Helper()
	o := NewOptions(action, "helm-harborha test")
	o.AddFlags(pflag.NewFlagSet(action, pflag.ContinueOnError))
	var runs []*Run
	o.major = func(context.Context, string) (int, error) { return major, nil }
	o.exec = func(_ context.Context, r *Run) (int, error) { runs = append(runs, r); return 0, nil }
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
	if code, err := o.Run(t.Context(), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 || err != nil {
		t.Fatalf("run: %d %v", code, err)
	}
	if len(*runs) != 1 {
		t.Fatalf("%d Helm runs, want 1", len(*runs))
	}
	r := (*runs)[0]
	want := &Run{Helm: "/opt/helm", Major: 3, Action: "template",
		HelmArgs:   []string{"myharbor", "./harbor.tgz", "-n", "harbor", "-f", "v.yaml", "--wait"},
		PostRender: []string{"--replicas=3", "--zone-spread=true"},
		Self:       []string{"/opt/helm", "harborha", "post-render"}}
	got := *r
	got.Stdout, got.Stderr, got.Progress = nil, nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Helm run\n got %+v\nwant %+v", got, *want)
	}
	if o.release != "myharbor" || o.chart != "./harbor.tgz" {
		t.Errorf("release %q chart %q", o.release, o.chart)
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

func TestDryRun(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--dry-run"}, true},
		{[]string{"--dry-run=client"}, true},
		{[]string{"--dry-run=server"}, true},
		{[]string{"--dry-run=none"}, false},
		{[]string{"--dry-run=false"}, false},
		{[]string{"--set", "x=--dry-run"}, false},
		{[]string{"--dry-running"}, false},
	}
	for _, tt := range tests {
		if got := dryRun(tt.args); got != tt.want {
			t.Errorf("dryRun(%q) = %v, want %v", tt.args, got, tt.want)
		}
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
		if got := o.bootstraps(); got != tt.want {
			t.Errorf("%s %q: bootstraps = %v, want %v", tt.action, tt.args, got, tt.want)
		}
	}
}

// TestChartOfRelease: the overlay is written for the chart the caller
// loaded (export), not one guessed from the chart argument and --version,
// which for a repository chart may be a range or absent.
func TestChartOfRelease(t *testing.T) {
	o, _ := newOptions(t, "template", 3)
	if err := o.Complete([]string{"myharbor", "goharbor/harbor", "--version", "~1.11"}); err != nil {
		t.Fatal(err)
	}
	guessed, err := o.chartOfRelease()
	if err != nil || !guessed.RedisUsername || guessed.Version != "" {
		t.Fatalf("without a loaded chart: want the assumed current chart, got %+v, %v", guessed, err)
	}
	o.Chart = &values.Chart{Version: "1.11.0", Source: "chart goharbor/harbor"}
	got, err := o.chartOfRelease()
	if err != nil || got != *o.Chart {
		t.Errorf("with a loaded chart: want %+v, got %+v, %v", *o.Chart, got, err)
	}
}
