package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
)

// helmSplit is Helm's own split, in stream order: what split must equal.
func helmSplit(stream string) []string {
	parts := releaseutil.SplitManifests(stream)
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, parts[k])
	}
	return out
}

var splitCases = []string{
	"", "---", "---\n", "a", "---\na\n---\nb\n", "a\n---\n---\nb", "a  \n---  \n\n b", "---a\n---b",
	"a\n----\nb", "a\n  ---\nb", "a\r\n---\r\nb", "\n\n---\n", "a\n---", "x: '---'\ny: |\n  ---\n",
	"a\n--- # comment\nb", "a\n\f---\tb", "---\n---\n---", "a\n---\n \n---\nb",
}

func TestSplitIsHelms(t *testing.T) {
	for _, c := range splitCases {
		if got, want := split(c), helmSplit(c); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("split(%q) = %q, Helm splits it into %q", c, got, want)
		}
	}
	// Every post-render golden: the real charts' output, post-rendered.
	for g, b := range goldenStreams(t) {
		if got, want := split(string(b)), helmSplit(string(b)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: split differs from Helm's (%d documents, Helm %d)", g, len(got), len(want))
		}
	}
}

// goldenStreams are the post-render goldens by path, the real charts'
// output (testutil, which finds them, imports this package).
func goldenStreams(t *testing.T) map[string][]byte {
	goldens, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "expected.yaml"))
	if len(goldens) < 10 {
		t.Fatalf("%d golden files found under testdata/, want the post-render goldens", len(goldens))
	}
	out := map[string][]byte{}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		out[g] = b
	}
	return out
}

// FuzzSplit: split cuts every stream where Helm cuts it.
func FuzzSplit(f *testing.F) {
	for _, c := range splitCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := split(s), helmSplit(s)
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split(%q) = %q, Helm: %q", s, got, want)
		}
	})
}
