package harbor

import (
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Source is a ConfigMap or Secret of the stream, decoded: the data a pod
// reads from it (a Secret's data base64-decoded, its stringData as is).
type Source struct {
	Doc  *manifest.Doc
	Kind string // "ConfigMap" or "Secret"
	Data map[string]string
	// Field is where each key is written: "data" or "stringData" (a
	// Secret's stringData wins over data, as the API server merges them).
	Field map[string]string
	// Trimmed are the ConfigMap keys whose value the document's text no
	// longer ends with a newline: a block scalar with "|+" last in a
	// document loses it when the stream is split, and gets it back when
	// Helm joins the documents with "\n---". Data holds the value with it,
	// as Helm applies it; rewriting the document must keep it.
	Trimmed map[string]bool
}

// Sources indexes the stream's ConfigMaps and Secrets by kind, namespace
// and name (hooks included: a hook may be what reads one). A document
// that does not decode is left out: the API server would reject it; Lookup
// says why, Get reports it missing.
type Sources struct {
	byKey map[string]*Source
	bad   map[string]error
}

func sourceKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// ReadSources decodes the stream's ConfigMaps and Secrets.
func ReadSources(docs []*manifest.Doc) *Sources {
	out := &Sources{byKey: map[string]*Source{}, bad: map[string]error{}}
	for _, d := range docs {
		id := d.ID()
		if id.Group != "" || (id.Kind != "ConfigMap" && id.Kind != "Secret") {
			continue
		}
		key := sourceKey(id.Kind, id.Namespace, id.Name)
		s, err := readSource(d, id.Kind)
		if err != nil {
			out.bad[key] = err
			continue
		}
		out.byKey[key] = s
	}
	return out
}

func readSource(d *manifest.Doc, kind string) (*Source, error) {
	s := &Source{Doc: d, Kind: kind, Data: map[string]string{}, Field: map[string]string{}, Trimmed: map[string]bool{}}
	if kind == "ConfigMap" {
		var cm corev1.ConfigMap
		if err := decode(d, &cm); err != nil {
			return nil, err
		}
		var joined map[string]string
		if endsInValue(d.Raw, cm.Data) {
			joined = joinedData(d)
		}
		for k, v := range cm.Data {
			s.Data[k], s.Field[k] = v, "data"
			if j, ok := joined[k]; ok && j == v+"\n" {
				s.Data[k], s.Trimmed[k] = j, true
			}
		}
		return s, nil
	}
	var sec corev1.Secret
	if err := decode(d, &sec); err != nil {
		return nil, err
	}
	for k, v := range sec.Data {
		s.Data[k], s.Field[k] = string(v), "data"
	}
	for k, v := range sec.StringData {
		s.Data[k], s.Field[k] = v, "stringData"
	}
	return s, nil
}

// joinedData is a ConfigMap's data as the document reads once joined
// into a stream (its text and a newline before the next "---").
func joinedData(d *manifest.Doc) map[string]string {
	text := []byte(d.Raw + "\n")
	if data, ok := dataStrings(text); ok {
		return data
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if yaml.Unmarshal(text, &cm) != nil {
		return nil
	}
	return cm.Data
}

// dataStrings decodes the document's data as the struct above does,
// without sigs.k8s.io/yaml's trips through JSON text, when that is plain:
// a mapping whose only key encoding/json matches to the field "data"
// (case-insensitively) is "data", a mapping of strings. ok is false for
// anything else.
func dataStrings(text []byte) (map[string]string, bool) {
	tree, err := manifest.UnmarshalMap(text)
	if err != nil {
		return nil, false
	}
	for k := range tree {
		if k != "data" && strings.EqualFold(k, "data") {
			return nil, false
		}
	}
	m, isMap := tree["data"].(map[string]any)
	if !isMap {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, isString := v.(string)
		if !isString {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// endsInValue reports whether a data value may be the scalar the
// document's text ends with, the only one joinedData can find changed: a
// newline after the text changes no plain or quoted scalar, flow
// collection or comment, only a block scalar running to the end of the
// text, whose value then ends with the text's last line (a line ends at
// any YAML 1.1 break) less its indentation.
func endsInValue(raw string, data map[string]string) bool {
	last := raw
	if i := strings.LastIndexAny(raw, "\n\r\u0085\u2028\u2029"); i >= 0 {
		_, w := utf8.DecodeRuneInString(raw[i:])
		last = raw[i+w:]
	}
	tail := strings.TrimLeft(last, " ")
	for _, v := range data {
		if strings.HasSuffix(v, tail) {
			return true
		}
	}
	return false
}

// Get returns the ConfigMap or Secret namespace/name, or nil.
func (s *Sources) Get(kind, namespace, name string) *Source {
	return s.byKey[sourceKey(kind, namespace, name)]
}

// Lookup is Get, with the error naming the document when the stream's
// ConfigMap or Secret namespace/name does not decode.
func (s *Sources) Lookup(kind, namespace, name string) (*Source, error) {
	key := sourceKey(kind, namespace, name)
	if src := s.byKey[key]; src != nil {
		return src, nil
	}
	return nil, s.bad[key]
}

// Name is the source's metadata.name.
func (s *Source) Name() string { return s.Doc.Obj.GetName() }

// Containers are the pod template's init containers and containers with
// their JSON pointer (".../initContainers/0"), in the order the kubelet
// starts them.
func (w *Workload) Containers() []PodContainer {
	spec := &w.Template().Spec
	var out []PodContainer
	for i := range spec.InitContainers {
		out = append(out, PodContainer{Container: &spec.InitContainers[i], Path: PodPath + "/initContainers/" + strconv.Itoa(i)})
	}
	for i := range spec.Containers {
		out = append(out, PodContainer{Container: &spec.Containers[i], Path: PodPath + "/containers/" + strconv.Itoa(i)})
	}
	return out
}

// PodContainer is a container of a pod template and its JSON pointer.
type PodContainer struct {
	*corev1.Container
	Path string
}

// PodPath is the pod spec's JSON pointer in a Deployment or StatefulSet.
const PodPath = "/spec/template/spec"

// Mounts reports whether the container mounts the pod volume that
// projects the ConfigMap or Secret name (a configMap or secret volume, or
// a projected one holding it).
func (w *Workload) Mounts(c *corev1.Container, kind, name string) bool {
	for _, v := range w.Template().Spec.Volumes {
		if !volumeHolds(v, kind, name) {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return true
			}
		}
	}
	return false
}

func volumeHolds(v corev1.Volume, kind, name string) bool {
	switch {
	case kind == "ConfigMap" && v.ConfigMap != nil:
		return v.ConfigMap.Name == name
	case kind == "Secret" && v.Secret != nil:
		return v.Secret.SecretName == name
	case v.Projected != nil:
		for _, p := range v.Projected.Sources {
			if (kind == "ConfigMap" && p.ConfigMap != nil && p.ConfigMap.Name == name) ||
				(kind == "Secret" && p.Secret != nil && p.Secret.Name == name) {
				return true
			}
		}
	}
	return false
}
