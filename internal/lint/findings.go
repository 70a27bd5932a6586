package lint

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Severity is how bad a finding is: errors fail the lint, warnings only
// with --strict.
type Severity int

const (
	Warning Severity = iota
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalJSON writes the severity as "error" or "warning".
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads "error" or "warning".
func (s *Severity) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("severity %q is not error or warning", v)
	}
	return nil
}

// Object names the Kubernetes object a finding is about.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Location is where the object came from: a file and the line its document
// starts on, and the chart template that rendered it (Helm's "# Source:"
// comment, or Helm 4's filename annotation), when known.
type Location struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Template string `json:"template,omitempty"`
}

func (l Location) String() string {
	var parts []string
	if l.File != "" {
		if l.Line > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", l.File, l.Line))
		} else {
			parts = append(parts, l.File)
		}
	}
	if l.Template != "" {
		parts = append(parts, "from "+l.Template)
	}
	return strings.Join(parts, ", ")
}

// Finding is one problem found in a release.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Object   Object   `json:"object"`
	Location Location `json:"location"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`

	doc *manifest.Doc // the object's document: suppression annotations, ordering
}

// objectOf names a document's object.
func objectOf(d *manifest.Doc) Object {
	return Object{APIVersion: d.Obj.GetAPIVersion(), Kind: d.Obj.GetKind(), Namespace: d.Obj.GetNamespace(), Name: d.Obj.GetName()}
}

// Report is the result of a lint: the findings that remain after
// suppression, in output order, and the counts.
type Report struct {
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
}

// Summary counts the findings. Suppressed ones (--disable, the lint-ignore
// annotation) are counted but not listed.
type Summary struct {
	Objects    int  `json:"objects"`
	Errors     int  `json:"errors"`
	Warnings   int  `json:"warnings"`
	Suppressed int  `json:"suppressed"`
	Failed     bool `json:"failed"`
}

// IgnoreAnnotation silences rules on one object: a comma-separated list of
// rule ids. On a Deployment or StatefulSet it is also read from the pod
// template, where the chart's <component>.podAnnotations value puts it.
const IgnoreAnnotation = "harborha.io/lint-ignore"

// ignored returns the rule ids the object's annotations silence.
func ignored(d *manifest.Doc) map[string]bool {
	out := map[string]bool{}
	add := func(v string) {
		for _, id := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			out[strings.ToUpper(id)] = true
		}
	}
	add(d.Obj.GetAnnotations()[IgnoreAnnotation])
	if tmpl, ok := d.Obj.Object["spec"].(map[string]any); ok {
		if t, ok := tmpl["template"].(map[string]any); ok {
			if md, ok := t["metadata"].(map[string]any); ok {
				if ann, ok := md["annotations"].(map[string]any); ok {
					if v, ok := ann[IgnoreAnnotation].(string); ok {
						add(v)
					}
				}
			}
		}
	}
	return out
}

// sortFindings orders findings by object (in input order), then rule id,
// then message, so that output never depends on map iteration.
func sortFindings(fs []Finding, order func(*manifest.Doc) int) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if oa, ob := order(a.doc), order(b.doc); oa != ob {
			return oa < ob
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
}
