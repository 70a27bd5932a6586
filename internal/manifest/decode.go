package manifest

import (
	"math"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// maxDepth bounds the nesting the fast path converts; encoding/json
// refuses 10000 levels, so deeper documents take sigs' own path.
const maxDepth = 1000

// UnmarshalMap decodes YAML into a map exactly as sigs.k8s.io/yaml.Unmarshal
// into a map[string]any does (the same values and the same errors), without
// its trip through JSON text, which was a third of decoding a document.
//
// sigs decodes with yaml.v2, turns the value to JSON text and decodes that
// with encoding/json. For a mapping whose keys are strings, whose strings
// are valid UTF-8 (json.Marshal would replace invalid bytes) and whose
// floats are finite (json.Marshal fails on NaN and Inf), that round trip
// only turns every number into the float64 that encoding/json parses from
// its decimal text: float64(n) for an integer (both round to nearest
// even), the float itself otherwise (Go writes floats so that they read
// back exactly). Anything else (an error, a scalar or a list, other
// keys) goes through sigs itself. FuzzUnmarshalMap holds the two equal.
func UnmarshalMap(data []byte) (map[string]any, error) {
	var v any
	if yamlv2.Unmarshal(data, &v) == nil {
		switch t := v.(type) {
		case nil:
			return nil, nil
		case map[any]any:
			if m, ok := jsonMap(t, 0); ok {
				return m, nil
			}
		}
	}
	var obj map[string]any
	err := yaml.Unmarshal(data, &obj)
	return obj, err
}

// jsonMap converts a yaml.v2 mapping; ok is false when the JSON trip could
// change it in a way jsonValue does not follow.
func jsonMap(in map[any]any, depth int) (map[string]any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		ks, isString := k.(string)
		if !isString || !utf8.ValidString(ks) {
			return nil, false
		}
		jv, ok := jsonValue(v, depth+1)
		if !ok {
			return nil, false
		}
		out[ks] = jv
	}
	return out, true
}

// jsonValue is what encoding/json decodes from json.Marshal(v), for the
// values yaml.v2 decodes into an interface.
func jsonValue(v any, depth int) (any, bool) {
	switch t := v.(type) {
	case nil, bool:
		return t, true
	case string:
		return t, utf8.ValidString(t)
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case uint64:
		return float64(t), true
	case float64:
		return t, !math.IsNaN(t) && !math.IsInf(t, 0)
	case map[any]any:
		return jsonMap(t, depth)
	case []any:
		if depth > maxDepth {
			return nil, false
		}
		out := make([]any, len(t))
		for i, e := range t {
			jv, ok := jsonValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = jv
		}
		return out, true
	}
	return nil, false
}
