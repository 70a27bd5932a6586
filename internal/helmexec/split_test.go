package helmexec

import (
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/testutil"
)

func ourFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("ours", pflag.ContinueOnError)
	fs.String("shared-pvc", "", "")
	fs.String("replicas", "", "")
	fs.Bool("zone-spread", false, "")
	fs.Bool("no-discover", false, "")
	fs.String("pg", "", "")
	return fs
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		mine, helm []string
	}{
		{"ours with =", []string{"rel", "chart", "--shared-pvc=x"}, []string{"--shared-pvc=x"}, []string{"rel", "chart"}},
		{"ours with a separate value", []string{"--shared-pvc", "x", "rel", "chart"}, []string{"--shared-pvc", "x"}, []string{"rel", "chart"}},
		{"bool flag takes no value", []string{"--zone-spread", "rel", "chart"}, []string{"--zone-spread"}, []string{"rel", "chart"}},
		{"bool flag with =false", []string{"--zone-spread=false", "rel"}, []string{"--zone-spread=false"}, []string{"rel"}},
		{"helm flags untouched, in order", []string{"rel", "chart", "-f", "a.yaml", "--set", "x=1", "-f", "b.yaml", "--wait", "--timeout=5m"},
			nil, []string{"rel", "chart", "-f", "a.yaml", "--set", "x=1", "-f", "b.yaml", "--wait", "--timeout=5m"}},
		{"interleaved", []string{"--pg", "mypg", "rel", "-f", "v.yaml", "--replicas=core=3,trivy=1", "chart", "--version", "1.19.1"},
			[]string{"--pg", "mypg", "--replicas=core=3,trivy=1"}, []string{"rel", "-f", "v.yaml", "chart", "--version", "1.19.1"}},
		{"-- ends ours", []string{"--no-discover", "--", "--pg", "helm-sees-this", "rel"}, []string{"--no-discover"}, []string{"--pg", "helm-sees-this", "rel"}},
		{"helm's own -- is kept after ours ends", []string{"rel", "--", "--"}, nil, []string{"rel", "--"}},
		{"single-dash tokens are Helm's", []string{"-n", "harbor", "-f", "-"}, nil, []string{"-n", "harbor", "-f", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mine, helm, err := Split(tt.args, ourFlags())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mine, tt.mine) || !reflect.DeepEqual(helm, tt.helm) {
				t.Errorf("Split(%q)\n mine %q, want %q\n helm %q, want %q", tt.args, mine, tt.mine, helm, tt.helm)
			}
		})
	}
	if _, _, err := Split([]string{"rel", "--pg"}, ourFlags()); err == nil || err.Error() != "flag --pg needs a value" {
		t.Errorf("missing value: %v", err)
	}
}

func TestParseRelease(t *testing.T) {
	args := []string{"--values", "a.yaml", "myharbor", "-f", "b.yaml,c.yaml", "--set=x=1", "--wait", "./harbor-1.19.1.tgz", "--version", "1.19.1", "--dry-run", "-n", "harbor"}
	r, err := ParseRelease("install", args)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Positionals, []string{"myharbor", "./harbor-1.19.1.tgz"}) || r.Name != "myharbor" || r.Chart != "./harbor-1.19.1.tgz" {
		t.Errorf("positionals %q: release %q, chart %q", r.Positionals, r.Name, r.Chart)
	}
	if r.Version != "1.19.1" || r.Namespace != "harbor" || !r.DryRun || !reflect.DeepEqual(r.Args, args) {
		t.Errorf("version %q, namespace %q, dry run %v, args %q", r.Version, r.Namespace, r.DryRun, r.Args)
	}
	if want := (ValueFlags{Files: []string{"a.yaml", "b.yaml", "c.yaml"}, Set: []string{"x=1"}}); !reflect.DeepEqual(r.Values, want) {
		t.Errorf("values %+v, want %+v (-f splits on commas, as Helm's does)", r.Values, want)
	}
	if want := []string{"--values", "-f", "--set", "--wait", "--version", "--dry-run", "-n"}; !reflect.DeepEqual(r.Flags, want) {
		t.Errorf("flags %q, want %q", r.Flags, want)
	}
	if r, _ := ParseRelease("upgrade", []string{"--server-side", "auto", "rel", "chart"}); !reflect.DeepEqual(r.Positionals, []string{"rel", "chart"}) {
		t.Errorf("upgrade positionals = %q", r.Positionals)
	}
	if r, _ := ParseRelease("template", []string{"--namespace=a", "-n", "b", "chart"}); r.Namespace != "b" || r.Name != "" || r.Chart != "chart" {
		t.Errorf("the last -n wins, one positional is the chart: namespace %q, release %q, chart %q", r.Namespace, r.Name, r.Chart)
	}
	if r, _ := ParseRelease("template", []string{"-nharbor", "rel", "chart", "--", "--not-a-flag"}); r.Namespace != "harbor" || !reflect.DeepEqual(r.Positionals, []string{"rel", "chart", "--not-a-flag"}) {
		t.Errorf("-nVALUE and --: namespace %q, positionals %q", r.Namespace, r.Positionals)
	}
	for _, tt := range []struct {
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
	} {
		if r, err := ParseRelease("install", tt.args); err != nil || r.DryRun != tt.want {
			t.Errorf("%q: dry run %v, %v; want %v", tt.args, r.DryRun, err, tt.want)
		}
	}
	if _, err := ParseRelease("install", []string{"rel", "chart", "--version"}); err == nil || err.Error() != "flag --version needs a value" {
		t.Errorf("a value flag without its value: %v", err)
	}
}

// TestValueFlagsMatchHelm reads the flags of the real helm 3 and helm 4
// install, upgrade and template commands from --help: every flag that
// takes a value must be in valueFlags (else Positionals would mistake its
// value for the chart), and no flag that takes none.
func TestValueFlagsMatchHelm(t *testing.T) {
	line := regexp.MustCompile(`^\s+(?:(-\w), )?(--[\w-]+)(?: (\S+))?\s`)
	for _, helm := range []string{testutil.Helm3(t), testutil.Helm4(t)} {
		for _, action := range []string{"install", "upgrade", "template"} {
			out, err := exec.Command(helm, action, "--help").Output()
			if err != nil {
				t.Fatalf("%s %s --help: %v", helm, action, err)
			}
			checked := 0
			for _, l := range strings.Split(string(out), "\n") {
				m := line.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				checked++
				// "string[=x]" has a default when given alone: no value consumed.
				takes := m[3] != "" && !strings.Contains(m[3], "[=")
				for _, name := range []string{m[1], m[2]} {
					if name != "" && takesValue(action, name) != takes {
						t.Errorf("%s %s: flag %s takes a value: %v, takesValue says %v", helm, action, name, takes, takesValue(action, name))
					}
				}
			}
			if checked < 30 {
				t.Errorf("%s %s --help: read only %d flags", helm, action, checked)
			}
		}
	}
}
