package export

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"sigs.k8s.io/yaml"
)

// valuesSet is the release's values as files of the export, in Helm's
// order: our overlay first, the user's -f files, then the --set* flags
// written as one more file.
type valuesSet struct {
	Files  []valuesFile
	Merged map[string]any // what Helm merges them into (Flux's spec.values)
}

type valuesFile struct {
	Name string // values/<n>-<base>.yaml
	Data []byte
}

// setFile is where the --set* flags are written.
const setFile = "values/set.yaml"

// makeValues copies the values files and writes the --set* flags as one
// file, and checks that Helm merges the files into exactly what it merges
// the original arguments into.
func makeValues(overlay []byte, opts values.Options, providers getter.Providers) (*valuesSet, error) {
	vs := &valuesSet{}
	if overlay != nil {
		vs.Files = append(vs.Files, valuesFile{Name: "values/00-harborha.yaml", Data: overlay})
	}
	for i, f := range opts.ValueFiles {
		data, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		vs.Files = append(vs.Files, valuesFile{Name: fmt.Sprintf("values/%02d-%s", i+1, yamlName(f)), Data: data})
	}
	sets := values.Options{Values: opts.Values, StringValues: opts.StringValues, FileValues: opts.FileValues,
		JSONValues: opts.JSONValues, LiteralValues: opts.LiteralValues}
	if !reflect.DeepEqual(sets, values.Options{}) {
		m, err := sets.MergeValues(providers)
		if err != nil {
			return nil, err
		}
		data, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		vs.Files = append(vs.Files, valuesFile{Name: setFile, Data: data})
	}
	return vs, vs.merge(overlay, opts, providers)
}

// merge computes Merged from the files and checks it against Helm's merge
// of the original arguments (--set a[0]=x into a list from a file, say,
// cannot be written as a file that merges the same way).
func (vs *valuesSet) merge(overlay []byte, opts values.Options, providers getter.Providers) error {
	dir, err := os.MkdirTemp("", "harborha-export-values-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var ours []string
	for i, f := range vs.Files {
		p := filepath.Join(dir, fmt.Sprintf("%02d.yaml", i))
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			return err
		}
		ours = append(ours, p)
	}
	split := values.Options{ValueFiles: ours}
	if vs.Merged, err = split.MergeValues(providers); err != nil {
		return err
	}
	orig := opts
	if overlay != nil {
		orig.ValueFiles = append([]string{ours[0]}, opts.ValueFiles...)
	}
	want, err := orig.MergeValues(providers)
	if err != nil {
		return err
	}
	if !sameJSON(want, vs.Merged) {
		return fmt.Errorf("--set: these values cannot be written as a values file that Helm merges the same way (an index into a list from a values file?); move them into a values file")
	}
	vs.Merged = normalized(vs.Merged)
	return nil
}

// readValuesFile reads a local -f file; a URL or stdin cannot be copied
// into the export.
func readValuesFile(f string) ([]byte, error) {
	if strings.TrimSpace(f) == "-" {
		return nil, fmt.Errorf("-f -: an export copies its values files; write stdin to a file and pass that")
	}
	if u, err := url.Parse(f); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return nil, fmt.Errorf("-f %s: an export copies its values files; download it and pass the file", f)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %v", f, pathError(err))
	}
	return data, nil
}

// yamlName is a values file's base name, ending in .yaml.
func yamlName(f string) string {
	base := path.Base(filepath.ToSlash(f))
	if ext := path.Ext(base); ext != ".yaml" && ext != ".yml" {
		base += ".yaml"
	}
	return base
}

func pathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// sameJSON compares two values trees as JSON: --set gives int64 where a
// file gives float64, which Helm's templates print alike.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func normalized(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return m
	}
	return out
}
