package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// brokenRelease is the baseline with several problems at once, one of
// them silenced by an annotation: the input of the output tests.
func brokenRelease(t *testing.T) []byte {
	f := baseline(t)
	f.set(dpl, "myharbor-core", "1", "spec", "replicas")
	f.set(pvc, "myharbor-registry", "[ReadWriteOnce]", "spec", "accessModes")
	f.remove(pdb, "myharbor-registry")
	f.set(cm, "myharbor-core", "redis://:s3cr3t-Pa55@redis.harbor:6379/0", "data", "_REDIS_URL_CORE")
	f.set(cm, "myharbor-core", "https://harbor.example.com/harbor", "data", "EXT_ENDPOINT")
	f.set(sts, "myharbor-trivy", `{harborha.io/lint-ignore: "HA001, HA004"}`, "spec", "template", "metadata", "annotations")
	f.set(sts, "myharbor-trivy", "1", "spec", "replicas")
	return f.stream()
}

func TestTextReport(t *testing.T) {
	stdout, _, failed, err := runLint(t, brokenRelease(t), "-")
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("error findings must fail the lint")
	}
	testutil.Golden(t, filepath.Join("testdata", "broken-release.txt"), []byte(stdout))
	if strings.Contains(stdout, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
	if strings.Contains(stdout, "s3cr3t-Pa55") {
		t.Error("the text report shows the Redis password")
	}
}

func TestTextReportColour(t *testing.T) {
	var out bytes.Buffer
	err := command.Execute(t.Context(), &Options{Color: true}, Help, []string{"-"}, command.Streams{In: bytes.NewReader(brokenRelease(t)), Out: &out, Err: &bytes.Buffer{}})
	if exit := (*command.ExitError)(nil); !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("a broken release: %v, want exit status 1", err)
	}
	for _, code := range []string{ansiRed + "error", ansiYellow + "warning", ansiBold + "Deployment harbor/myharbor-core"} {
		if !strings.Contains(out.String(), code) {
			t.Errorf("terminal output lacks %q", code)
		}
	}
}

func TestJSONRoundTrips(t *testing.T) {
	in := brokenRelease(t)
	stdout, _, _, err := runLint(t, in, "-o", "json", "-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readJSON([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	want := lintBytes(t, "<stdin>", in)
	for i := range want.Findings {
		want.Findings[i].doc = nil // not part of the document
	}
	if len(want.Findings) < 5 {
		t.Fatalf("the input should have several findings, got %d", len(want.Findings))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON does not read back as the report:\n got %+v\nwant %+v", got, want)
	}
	// Writing what was read gives the same document.
	var again bytes.Buffer
	if err := output.JSON.Write(&again, &reportDoc{Tool: jsonTool{Name: ToolName, Version: ""}, Report: got}); err != nil {
		t.Fatal(err)
	}
	if again.String() != stdout {
		t.Errorf("JSON does not round-trip:\n%s", testutil.LineDiff(stdout, again.String()))
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if tool := doc["tool"].(map[string]any); tool["name"] != ToolName {
		t.Errorf("tool = %v", tool)
	}
}

func TestSARIFStructure(t *testing.T) {
	file := filepath.Join(testutil.RepoRoot(), "testdata", "replica-overrides", "expected.yaml")
	stdout, _, _, err := runLint(t, nil, "-o", "sarif", file)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID                   string                     `json:"id"`
						ShortDescription     struct{ Text string }      `json:"shortDescription"`
						Help                 struct{ Text string }      `json:"help"`
						DefaultConfiguration struct{ Level string }     `json:"defaultConfiguration"`
						Properties           map[string]json.RawMessage `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct{ FullyQualifiedName string } `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != ToolName || len(run.Tool.Driver.Rules) != len(Rules) {
		t.Fatalf("driver %q with %d rules, want %s with %d", run.Tool.Driver.Name, len(run.Tool.Driver.Rules), ToolName, len(Rules))
	}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID != Rules[i].ID || r.ShortDescription.Text == "" || r.Help.Text == "" || (r.DefaultConfiguration.Level != "error" && r.DefaultConfiguration.Level != "warning") {
			t.Errorf("rule %d: %+v", i, r)
		}
	}
	lines := strings.Split(string(testutil.ReadFile(t, file)), "\n")
	if want := len(goldenWant(t, "replica-overrides")); len(run.Results) != want {
		t.Fatalf("%d results, want %d", len(run.Results), want)
	}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("ruleIndex %d is not rule %s", res.RuleIndex, res.RuleID)
		}
		if (res.Level != "error" && res.Level != "warning") || res.Message.Text == "" || len(res.Locations) != 1 {
			t.Errorf("result %+v", res)
			continue
		}
		loc := res.Locations[0]
		if loc.PhysicalLocation.ArtifactLocation.URI != filepath.ToSlash(file) || len(loc.LogicalLocations) != 1 {
			t.Errorf("location %+v", loc)
			continue
		}
		// The region is where the object's document starts.
		line := loc.PhysicalLocation.Region.StartLine
		if line < 1 || line > len(lines) || !strings.HasPrefix(lines[line-1], "# Source:") && !strings.HasPrefix(lines[line-1], "apiVersion:") {
			t.Errorf("%s: startLine %d is not the start of a document", res.RuleID, line)
		}
	}
}

func TestListRules(t *testing.T) {
	stdout, _, _, err := runLint(t, nil, "--list-rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		if !strings.Contains(stdout, r.ID+"  ") || !strings.Contains(stdout, r.Fix) {
			t.Errorf("--list-rules lacks %s or its fix", r.ID)
		}
	}
	stdout, _, _, err = runLint(t, nil, "--list-rules", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ ID, Severity, Title, Fix string }
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != len(Rules) {
		t.Fatalf("--list-rules -o json: %v, %d rows", err, len(rows))
	}
	if _, _, _, err := runLint(t, nil, "--list-rules", "-o", "sarif"); err == nil {
		t.Error("--list-rules -o sarif should be refused")
	}
}

// docs/lint.md's rule table is the rule table: docs cannot drift.
func TestDocsListEveryRule(t *testing.T) {
	readme := string(testutil.ReadFile(t, filepath.Join(testutil.RepoRoot(), "docs", "lint.md")))
	for _, r := range Rules {
		row := "| " + r.ID + " | " + r.SeverityText() + " | " + r.Title + " | " + r.Fix + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("docs/lint.md lacks the row\n%s", row)
		}
	}
}
