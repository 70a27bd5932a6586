package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// fixture is a hand-written release (testdata/ha-release.yaml) that tests
// change one field at a time.
type fixture struct {
	t    *testing.T
	objs []*unstructured.Unstructured
}

func baseline(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ha-release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t}
	for _, d := range docs {
		f.objs = append(f.objs, d.Obj)
	}
	return f
}

func (f *fixture) obj(kind, name string) *unstructured.Unstructured {
	f.t.Helper()
	for _, o := range f.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	f.t.Fatalf("fixture has no %s %s", kind, name)
	return nil
}

// set sets a field to a value written in YAML.
func (f *fixture) set(kind, name, value string, path ...string) {
	f.t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		f.t.Fatalf("value %q: %v", value, err)
	}
	if err := unstructured.SetNestedField(f.obj(kind, name).Object, v, path...); err != nil {
		f.t.Fatal(err)
	}
}

// setString sets a field to a string, as is.
func (f *fixture) setString(kind, name, value string, path ...string) {
	f.t.Helper()
	if err := unstructured.SetNestedField(f.obj(kind, name).Object, value, path...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) del(kind, name string, path ...string) {
	f.t.Helper()
	unstructured.RemoveNestedField(f.obj(kind, name).Object, path...)
}

func (f *fixture) remove(kind, name string) {
	f.t.Helper()
	o := f.obj(kind, name)
	for i := range f.objs {
		if f.objs[i] == o {
			f.objs = append(f.objs[:i], f.objs[i+1:]...)
			return
		}
	}
}

// add appends an object written in YAML.
func (f *fixture) add(doc string) {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		f.t.Fatal(err)
	}
	f.objs = append(f.objs, u)
}

// copyOf adds a copy of an object under another name, changed by edit.
func (f *fixture) copyOf(kind, name, newName string) {
	f.t.Helper()
	c := f.obj(kind, name).DeepCopy()
	c.SetName(newName)
	f.objs = append(f.objs, c)
}

func (f *fixture) stream() []byte {
	f.t.Helper()
	var parts []string
	for _, o := range f.objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			f.t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	return manifest.Write(parts)
}

// lintBytes lints a stream the way Run does, without output.
func lintBytes(t *testing.T, name string, data []byte, disable ...string) *Report {
	t.Helper()
	r, err := tryLint(name, data, disable...)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	return r
}

func tryLint(name string, data []byte, disable ...string) (*Report, error) {
	in, err := parseSources([]source{{name: name, data: data}})
	if err != nil {
		return nil, err
	}
	f, err := lintStream(in)
	if err != nil {
		return nil, err
	}
	return f.finish(in, disable, false), nil
}

// summary lists findings as "RULE Kind/name severity", sorted: what the
// tests compare.
func summary(r *Report, rule string) []string {
	out := []string{}
	for _, f := range r.Findings {
		if rule == "" || f.Rule == rule {
			out = append(out, f.Rule+" "+f.Object.Kind+"/"+f.Object.Name+" "+f.Severity.String())
		}
	}
	sort.Strings(out)
	return out
}

// runLint runs the whole command path (flags included) on args and stdin.
func runLint(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, failed bool, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = command.Execute(t.Context(), &Options{}, Help, args, command.Streams{In: bytes.NewReader(stdin), Out: &out, Err: &errb})
	var exit *command.ExitError
	if errors.As(err, &exit) && exit.Code == 1 {
		failed, err = true, nil
	}
	return out.String(), errb.String(), failed, err
}

// lintJSON runs lint with -o json and reads the report back; an error
// fails the test.
func lintJSON(t *testing.T, stdin []byte, args ...string) (*Report, bool) {
	t.Helper()
	stdout, stderr, failed, err := runLint(t, stdin, append([]string{"-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("lint %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	r, err := readJSON([]byte(stdout))
	if err != nil {
		t.Fatalf("reading -o json: %v\n%s", err, stdout)
	}
	return r, failed
}

// baselineIn is the baseline with every object in namespace ns.
func baselineIn(t *testing.T, ns string) *fixture {
	f := baseline(t)
	for _, o := range f.objs {
		o.SetNamespace(ns)
	}
	return f
}

// readJSON reads a report that -o json wrote.
func readJSON(data []byte) (*Report, error) {
	doc := reportDoc{Report: &Report{}}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return doc.Report, nil
}
