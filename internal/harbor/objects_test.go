package harbor

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

const configMapHead = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ns\n" // not "n": YAML 1.1 reads that as false

// trimmedCases end a ConfigMap with every kind of scalar: block scalars of
// each chomping and indentation indicator, at the end and before other
// keys, plain and quoted scalars over several lines, comments, flow
// collections, empty blocks, other line breaks (CRLF, CR, NEL, LS).
var trimmedCases = []string{
	"data:\n  a: |\n    x\n    y", "data:\n  a: |+\n    x", "data:\n  a: |-\n    x", "data:\n  a: >\n    x\n    y",
	"data:\n  a: >+\n    x", "data:\n  a: >-\n    x", "data:\n  a: |2\n     x", "data:\n  a: |+2\n      x\n     y",
	"data:\n  a: |\n    x\n      more", "data:\n  a: |\n    x\n  b: |\n    y", "data:\n  a: |\n    x\n# c",
	"data:\n  a: |\n    x\n    # not a comment", "data:\n  a: |", "data:\n  a: |+", "data:\n  a: >-", "data:\n  a: |\n",
	"data:\n  a: x\n    y", "data:\n  a: 'x\n    y'", "data:\n  a: \"x\n    y\"", "data: {a: x}", "data:\n  a: x # c",
	"data:\n  a: |\r\n    x\r\n    y", "data:\n  a: |\r    x\r    y", "data:\n  a: |\n    x\u0085    y", "data:\n  a: |\n    x\u2028    y",
	"data:\n  a: |\n    x\n  b: x", "data:\n  a: x\nbinaryData: {}\nextra: |\n  x", "data:\n  a: x\nextra: |\n  x",
	"data:\n  a: &v |\n    x\n  b: *v", "data:\n  a: !!str |\n    x", "data:\n  ? a\n  : |\n    x", "data:\n  a: |\n    x\n...",
	"data:\n  a: |\n    x\n  \n  ", "data:\n  a: |\n    \tx", "Data:\n  a: |\n    x", "data:\n  a: |\n    x\nData: [1]",
	"DATA: {b: y}\ndata:\n  a: |\n    x", "data:\n  b: 1\n  a: |\n    x", "data:\n  b: ~\n  a: |\n    x", "data: ~",
	"data:\n  1: x\n  a: |\n    x", "data: |\n  x", "data:\n  a: |\n    x\nother: .nan",
}

// sigsJoinedData is joinedData as it was: the joined document always
// parsed again with sigs.k8s.io/yaml.
func sigsJoinedData(d *manifest.Doc) map[string]string {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if yaml.Unmarshal([]byte(d.Raw+"\n"), &cm) != nil {
		return nil
	}
	return cm.Data
}

// wantTrimmed is ReadSources' Trimmed as computed before endsInValue and
// dataStrings: every ConfigMap joined and parsed again with sigs.
func wantTrimmed(t *testing.T, d *manifest.Doc) map[string]bool {
	var cm corev1.ConfigMap
	if decode(d, &cm) != nil {
		return nil
	}
	out := map[string]bool{}
	joined := sigsJoinedData(d)
	if got := joinedData(d); !maps.Equal(got, joined) {
		t.Fatalf("%q: joinedData = %q, sigs.k8s.io/yaml: %q", d.Raw, got, joined)
	}
	for k, v := range cm.Data {
		if j, ok := joined[k]; ok && j == v+"\n" {
			out[k] = true
		}
	}
	return out
}

func checkTrimmed(t *testing.T, stream string) {
	t.Helper()
	docs, err := manifest.Parse([]byte(stream))
	if err != nil {
		return
	}
	sources := ReadSources(docs)
	for _, d := range docs {
		if d.Obj.GetKind() != "ConfigMap" {
			continue
		}
		want := wantTrimmed(t, d)
		var got map[string]bool
		if s := sources.Get("ConfigMap", d.Obj.GetNamespace(), d.Obj.GetName()); s != nil {
			got = s.Trimmed
		}
		if len(got) != len(want) || (len(got) > 0 && !maps.Equal(got, want)) {
			t.Fatalf("%q: Trimmed = %v, joining the document says %v", d.Raw, got, want)
		}
	}
}

func TestTrimmedIsJoined(t *testing.T) {
	for _, c := range trimmedCases {
		checkTrimmed(t, configMapHead+c)
	}
	for _, c := range testutil.GoldenCases(t, 10) { // the real charts' ConfigMaps
		b, err := os.ReadFile(filepath.Join(c.Dir, "expected.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		checkTrimmed(t, string(b))
	}
	// A case that trims, so that the comparison is not vacuous.
	docs, _ := manifest.Parse([]byte(configMapHead + "data:\n  a: |+\n    x"))
	if s := ReadSources(docs).Get("ConfigMap", "ns", "x"); s == nil || !s.Trimmed["a"] || s.Data["a"] != "x\n" {
		t.Fatalf("a |+ block last in the document: %+v, want key a trimmed with value \"x\\n\"", s)
	}
}

// FuzzTrimmed: skipping the second parse never changes Trimmed.
func FuzzTrimmed(f *testing.F) {
	for _, c := range trimmedCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkTrimmed(t, configMapHead+s)
	})
}
