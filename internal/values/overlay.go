package values

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Setting is one chart value that a later stage decides, such as bootstrap
// pointing the overlay at the role and Secrets it created.
type Setting struct {
	Path  string // dotted, e.g. "database.external.username"
	Value any    // nil: remove the key
}

// Overlay is the chart's values overlay as data: the values tree and the
// header comment that says where they came from. It is encoded once, where
// it leaves the process (YAML): the file Helm reads, values' output, an
// export's values file.
type Overlay struct {
	header string
	values map[string]any
	// built is the overlay as Build made it, which YAML writes in the
	// chart's own key order until Set changes it.
	built *yaml.Node
}

// newOverlay is the overlay of a values document v (a struct in the
// chart's key order) under header.
func newOverlay(header string, v any) (*Overlay, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	o := &Overlay{header: header, built: &n}
	if err := n.Decode(&o.values); err != nil {
		return nil, err
	}
	return o, nil
}

// Values are the overlay's values, as Helm merges them; not to be changed
// but through Set.
func (o *Overlay) Values() map[string]any { return o.values }

// Set applies settings (a later stage's decisions, such as bootstrap's
// role and Secrets); on error nothing changes.
func (o *Overlay) Set(settings []Setting) error {
	if err := Apply(o.values, settings); err != nil {
		return err
	}
	o.built = nil
	return nil
}

// YAML is the overlay document: the header, then the values.
func (o *Overlay) YAML() ([]byte, error) {
	b := bytes.NewBufferString(o.header)
	var v any = o.values
	if o.built != nil {
		v = o.built
	}
	if err := encode(b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encode writes v as YAML the way every overlay is written (2 spaces).
func encode(b *bytes.Buffer, v any) error {
	enc := yaml.NewEncoder(b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// Apply writes settings into a values tree (as decoded from YAML),
// creating the maps on the way. It fails, changing nothing, when a path
// crosses a value that is not a map.
func Apply(values map[string]any, settings []Setting) error {
	for _, st := range settings {
		if _, err := parent(values, st.Path, false); err != nil {
			return err
		}
	}
	for _, st := range settings {
		m, _ := parent(values, st.Path, st.Value != nil)
		if m == nil {
			continue // removing under a missing map: nothing to do
		}
		leaf := st.Path[strings.LastIndexByte(st.Path, '.')+1:]
		if st.Value == nil {
			delete(m, leaf)
		} else {
			m[leaf] = st.Value
		}
	}
	return nil
}

// parent walks to the map holding path's last element, creating missing
// maps when create is set (else returning nil for a missing one).
func parent(values map[string]any, path string, create bool) (map[string]any, error) {
	parts := strings.Split(path, ".")
	m := values
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok || next == nil {
			if !create {
				return nil, nil
			}
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("values: %s is a %T, not a map, so %s cannot be set", strings.Join(parts[:i+1], "."), next, path)
		}
		m = child
	}
	return m, nil
}
