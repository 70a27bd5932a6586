// Package manifest splits a rendered Helm manifest stream into documents,
// checks that each is a Kubernetes object, and writes streams back.
//
// Splitting is Helm's (releaseutil.SplitManifests' algorithm, checked
// against it by FuzzSplit), so a stream is cut exactly where Helm cuts it. Each document keeps its original text, so
// documents that nobody changes can be written back byte for byte.
package manifest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HookAnnotation marks a Helm hook; hooks pass through untouched.
const HookAnnotation = "helm.sh/hook"

// FilenameAnnotation is how Helm 4 tells a post-renderer which template a
// document came from; it must survive on every document.
const FilenameAnnotation = "postrenderer.helm.sh/postrender-filename"

// Doc is one object of the stream.
type Doc struct {
	Pos  int    // 1-based position in the stream, for error messages
	Raw  string // original text, including leading comments such as "# Source:"
	Obj  *unstructured.Unstructured
	Hook bool
}

// ID identifies an object the way the API server does.
type ID struct {
	Group, Kind, Namespace, Name string
}

func (id ID) String() string {
	if id.Namespace == "" {
		return id.Kind + "/" + id.Name
	}
	return id.Kind + "/" + id.Namespace + "/" + id.Name
}

// IDOf is the identity of an object.
func IDOf(u *unstructured.Unstructured) ID {
	return ID{Group: u.GroupVersionKind().Group, Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// ID is the identity of the document's object.
func (d *Doc) ID() ID { return IDOf(d.Obj) }

// Describe names a document in messages: "document 3 (Deployment/harbor/x)".
func (d *Doc) Describe() string {
	return fmt.Sprintf("document %d (%s)", d.Pos, d.ID())
}

// Head is the run of comment lines (Helm 3's "# Source: ...") before the
// object, so they can be put back on a document that was rewritten.
func (d *Doc) Head() string {
	s := strings.TrimLeft(d.Raw, "\n")
	end := 0 // line by line, without splitting the whole document
	for end < len(s) {
		line := s[end:]
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			break
		}
		end += len(line)
	}
	return s[:end]
}

// Parse splits a stream into documents. Empty documents (only blanks or
// comments, as templates that render nothing leave behind) are dropped.
// It fails on the first document that is not YAML or not a Kubernetes
// object, and on two objects with the same identity.
func Parse(stream []byte) ([]*Doc, error) {
	parts := split(string(stream))

	// Decoding is most of the work and each document is independent:
	// decode on every core, then check identities in stream order.
	parsed := make([]*Doc, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(parts))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(parts); i += workers {
				parsed[i], errs[i] = decodeDoc(i+1, parts[i])
			}
		}()
	}
	wg.Wait()

	docs := make([]*Doc, 0, len(parts))
	seen := make(map[ID]int, len(parts))
	for i, d := range parsed {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if d == nil {
			continue
		}
		id := d.ID()
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s: same kind, namespace and name as document %d; each object may appear once", d.Describe(), first)
		}
		seen[id] = d.Pos
		docs = append(docs, d)
	}
	return docs, nil
}

// decodeDoc decodes one document; nil for an empty one.
func decodeDoc(pos int, raw string) (*Doc, error) {
	obj, err := UnmarshalMap([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("document %d: not valid YAML: %s", pos, yamlReason(err))
	}
	if obj == nil {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: obj}
	if err := checkObject(u); err != nil {
		return nil, fmt.Errorf("document %d: %s", pos, err)
	}
	d := &Doc{Pos: pos, Raw: raw, Obj: u}
	_, d.Hook = u.GetAnnotations()[HookAnnotation]
	return d, nil
}

// checkObject reports what makes a decoded mapping not a Kubernetes object.
// unstructured's getters panic-free accessors return "" for wrong types, so
// look at the raw values to say exactly what is wrong.
func checkObject(u *unstructured.Unstructured) error {
	for _, field := range []string{"apiVersion", "kind"} {
		v, ok := u.Object[field]
		if s, isString := v.(string); !ok || !isString || s == "" {
			return fmt.Errorf("not a Kubernetes object: %q must be a non-empty string", field)
		}
	}
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return fmt.Errorf("not a Kubernetes object: %s has no metadata mapping", u.GetKind())
	}
	if name, _ := md["name"].(string); name == "" {
		return fmt.Errorf("not a Kubernetes object: %s has no metadata.name", u.GetKind())
	}
	if ns, present := md["namespace"]; present && ns != nil {
		if _, isString := ns.(string); !isString {
			return fmt.Errorf("%s/%v: metadata.namespace must be a string", u.GetKind(), md["name"])
		}
	}
	for _, f := range []string{"labels", "annotations"} {
		if m, present := md[f]; present && m != nil {
			mm, isMap := m.(map[string]any)
			if !isMap {
				return fmt.Errorf("%s/%s: metadata.%s must be a mapping of strings", u.GetKind(), md["name"], f)
			}
			for k, v := range mm {
				if _, isString := v.(string); !isString {
					return fmt.Errorf("%s/%s: metadata.%s[%s] must be a string (quote it)", u.GetKind(), md["name"], f, k)
				}
			}
		}
	}
	return nil
}

// yamlReason shortens a YAML library error to its reason.
func yamlReason(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	return strings.TrimPrefix(s, "yaml: ")
}

// Write joins documents into a stream, each starting with "---".
func Write(docs []string) []byte {
	trimmed := make([]string, 0, len(docs))
	n := 0
	for _, d := range docs {
		if d = strings.Trim(d, "\n"); d != "" {
			trimmed = append(trimmed, d)
			n += len("---\n") + len(d) + len("\n")
		}
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, 0, n) // one allocation for a stream of megabytes
	for _, d := range trimmed {
		b = append(b, "---\n"...)
		b = append(b, d...)
		b = append(b, '\n')
	}
	return b
}
