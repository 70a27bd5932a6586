package lint

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLint: no input makes lint panic, and every output format is written
// for whatever lints. Seeds stay small: the fuzzer crawls on a whole chart
// render.
func FuzzLint(f *testing.F) {
	f.Add(readFileF(f, filepath.Join("testdata", "ha-release.yaml")))
	f.Add("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, selector: {matchLabels: {release: r, app: a, component: core}}, template: {metadata: {labels: {release: r, app: a, component: core}}}}\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 'rediss+sentinel://u:p@@,,/x'}\n")
	f.Fuzz(func(t *testing.T, stream string) {
		r, err := tryLint("fuzz.yaml", []byte(stream))
		if err != nil {
			return
		}
		var b bytes.Buffer
		writeText(&b, r, true)
		if err := writeJSON(&b, r, "fuzz"); err != nil {
			t.Fatal(err)
		}
		if err := writeSARIF(&b, r, "fuzz"); err != nil {
			t.Fatal(err)
		}
	})
}

func readFileF(f *testing.F, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
