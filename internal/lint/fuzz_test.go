package lint

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// FuzzLint: for whatever lints, every output format is written; the JSON
// report reads back to the same document; the summary counts what the
// findings say; and no message shows a Secret value of the input. Seeds
// stay small: the fuzzer crawls on a whole chart render.
func FuzzLint(f *testing.F) {
	f.Add(string(testutil.ReadFile(f, filepath.Join("testdata", "ha-release.yaml"))))
	f.Add("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, selector: {matchLabels: {release: r, app: a, component: core}}, template: {metadata: {labels: {release: r, app: a, component: core}}}}\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 'rediss+sentinel://u:p@@,,/x'}\n")
	f.Add(string(testutil.ReadFile(f, filepath.Join("testdata", "ha-release.yaml"))) + "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: harbor}\nstringData: {REDIS_PASSWORD: not-a-real-password}\n")
	f.Fuzz(func(t *testing.T, stream string) {
		in, err := parseSources([]source{{name: "fuzz.yaml", data: []byte(stream)}})
		if err != nil {
			return
		}
		found, err := lintStream(in)
		if err != nil {
			return
		}
		r := found.finish(in, nil, false)
		checkSummary(t, r, len(in.docs))
		checkNoSecretInMessages(t, r, secretValues(in.docs))
		checkJSONRoundTrip(t, r)
		var b bytes.Buffer
		if err := (&reportDoc{Report: r}).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if err := writeSARIF(&b, r, "fuzz"); err != nil {
			t.Fatal(err)
		}
	})
}

func checkSummary(t *testing.T, r *Report, objects int) {
	t.Helper()
	var errs, warns int
	for _, f := range r.Findings {
		if f.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	s := r.Summary
	if s.Errors != errs || s.Warnings != warns || s.Objects != objects || s.Failed != (errs > 0) || s.Suppressed < 0 {
		t.Fatalf("summary %+v, but the findings hold %d errors and %d warnings in %d objects", s, errs, warns, objects)
	}
}

// checkNoSecretInMessages: a Secret value may appear only as the marker
// (a secret such as "redact" is inside "<redacted>" itself).
func checkNoSecretInMessages(t *testing.T, r *Report, secrets []string) {
	t.Helper()
	for _, f := range r.Findings {
		msg := strings.ReplaceAll(f.Message, output.Redacted, "")
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Fatalf("%s on %s shows Secret value %q: %s", f.Rule, f.Object, s, f.Message)
			}
		}
	}
}

func checkJSONRoundTrip(t *testing.T, r *Report) {
	t.Helper()
	var first bytes.Buffer
	if err := output.JSON.Write(&first, &reportDoc{Tool: jsonTool{Name: ToolName, Version: "fuzz"}, Report: r}); err != nil {
		t.Fatal(err)
	}
	back, err := readJSON(first.Bytes())
	if err != nil {
		t.Fatalf("-o json does not read back: %v\n%s", err, first.String())
	}
	again, err := json.Marshal(&reportDoc{Tool: jsonTool{Name: ToolName, Version: "fuzz"}, Report: back})
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, first.Bytes()); err != nil {
		t.Fatal(err)
	}
	if compact.String() != string(again) {
		t.Fatalf("-o json changes on a round trip:\n%s\n%s", compact.String(), again)
	}
}
