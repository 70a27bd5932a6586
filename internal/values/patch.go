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

// Patch applies settings to an overlay document and re-encodes it,
// keeping its header comment (the lines Build writes before the values).
func Patch(doc []byte, settings []Setting) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("reading the values overlay: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	if err := Apply(m, settings); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		b.WriteString(line)
	}
	if err := encode(&b, m); err != nil {
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
