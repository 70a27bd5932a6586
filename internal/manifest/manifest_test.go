package manifest

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseKeepsOrderAndText(t *testing.T) {
	var b strings.Builder
	for i := range 200 { // enough documents for every decoding worker
		fmt.Fprintf(&b, "---\n# Source: chart/templates/cm-%03d.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d}\n", i, i)
	}
	b.WriteString("---\n# only a comment: an empty template\n")
	docs, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 200 {
		t.Fatalf("%d documents, want 200 (the empty one dropped)", len(docs))
	}
	for i, d := range docs {
		if d.Pos != i+1 || d.Obj.GetName() != fmt.Sprintf("cm-%03d", i) {
			t.Fatalf("document %d is %s at position %d", i+1, d.ID(), d.Pos)
		}
		if d.Head() != fmt.Sprintf("# Source: chart/templates/cm-%03d.yaml\n", i) {
			t.Errorf("head of %s: %q", d.ID(), d.Head())
		}
	}
	again := make([]string, len(docs))
	for i, d := range docs {
		again[i] = d.Raw
	}
	if docs2, err := Parse(Write(again)); err != nil || len(docs2) != 200 || docs2[199].Raw != docs[199].Raw {
		t.Errorf("Write then Parse does not give the same documents: %v", err)
	}
}

func TestParseReportsTheFirstBadDocument(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\n", i)
	}
	b.WriteString("---\nkind: [\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-0}\n---\nnot: [closed\n")
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.HasPrefix(err.Error(), "document 51: not valid YAML") {
		t.Fatalf("error %v: want the first bad document, 51, whichever worker decoded it", err)
	}
}

func TestIDString(t *testing.T) {
	for _, tt := range []struct {
		id   ID
		want string
	}{
		{ID{Kind: "Deployment", Namespace: "harbor", Name: "core"}, "Deployment/harbor/core"},
		{ID{Kind: "PodDisruptionBudget", Name: "core"}, "PodDisruptionBudget/core"},
	} {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestHead(t *testing.T) {
	cases := map[string]string{
		"":                             "",
		"a: b":                         "",
		"# Source: x\na: b":            "# Source: x\n",
		"\n\n# Source: x\n  # y\na: b": "# Source: x\n  # y\n",
		"# only\n# comments":           "# only\n# comments",
		"# one\n\n# after a blank":     "# one\n",
		"#a\n#b\n":                     "#a\n#b\n",
	}
	for raw, want := range cases {
		if got := (&Doc{Raw: raw}).Head(); got != want {
			t.Errorf("Head(%q) = %q, want %q", raw, got, want)
		}
	}
}
