package export

import (
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// strategicMerge returns the strategic-merge patch that turns orig into
// want, in the dialect kustomize (and so Flux and Argo CD) applies: kyaml's
// merge, with the merge keys of kustomize's built-in OpenAPI schema.
//
// Lists with a merge key (containers and volumes by name, volumeMounts by
// mountPath, ...) are patched item by item, so a chart that reorders them
// is still patched right; kyaml puts the patch's items first, so when that
// would change the order the patch names every item, unchanged ones by
// their key alone. Other lists are replaced whole. A key that want lacks
// is set to null (kyaml deletes it).
//
// The caller checks the result by applying it: what this cannot express
// exactly stays a JSON6902 patch.
func strategicMerge(apiVersion, kind string, orig, want map[string]any) map[string]any {
	s := openapi.SchemaForResourceType(kyaml.TypeMeta{APIVersion: apiVersion, Kind: kind})
	return diffMap(orig, want, s)
}

func diffMap(orig, want map[string]any, s *openapi.ResourceSchema) map[string]any {
	out := map[string]any{}
	for _, k := range harbor.SortedKeys(want) {
		ov, found := orig[k]
		wv := want[k]
		switch {
		case !found:
			out[k] = wv
		case !reflect.DeepEqual(ov, wv):
			out[k] = diffValue(ov, wv, field(s, k))
		}
	}
	for _, k := range harbor.SortedKeys(orig) {
		if _, kept := want[k]; !kept {
			out[k] = nil
		}
	}
	return out
}

func diffValue(ov, wv any, s *openapi.ResourceSchema) any {
	om, oIsMap := ov.(map[string]any)
	wm, wIsMap := wv.(map[string]any)
	if oIsMap && wIsMap {
		return diffMap(om, wm, s)
	}
	ol, oIsList := ov.([]any)
	wl, wIsList := wv.([]any)
	if oIsList && wIsList {
		if key := mergeKey(s, ol, wl); key != "" {
			return diffList(ol, wl, key, elements(s))
		}
	}
	return wv
}

// diffList patches a list with merge key key item by item: the changed
// and new items, then a delete directive for each item want lacks. When
// kyaml's merge would then change the order, every item is named.
func diffList(orig, want []any, key string, s *openapi.ResourceSchema) []any {
	items := listItems(orig, want, key, s, false)
	if !keepsOrder(orig, want, items, key) {
		items = listItems(orig, want, key, s, true)
	}
	inWant := map[any]bool{}
	for _, w := range want {
		inWant[w.(map[string]any)[key]] = true
	}
	for _, o := range orig {
		if k := o.(map[string]any)[key]; !inWant[k] {
			items = append(items, map[string]any{key: k, "$patch": "delete"})
		}
	}
	return items
}

// listItems are want's items as patch items, in want's order: new ones
// whole, changed ones as their diff with the key; unchanged ones by their
// key alone when all is set, else left out.
func listItems(orig, want []any, key string, s *openapi.ResourceSchema, all bool) []any {
	byKey := map[any]map[string]any{}
	for _, o := range orig {
		m := o.(map[string]any)
		byKey[m[key]] = m
	}
	var out []any
	for _, w := range want {
		wm := w.(map[string]any)
		om, found := byKey[wm[key]]
		switch {
		case !found:
			out = append(out, wm)
		case all || !reflect.DeepEqual(om, wm):
			item := diffMap(om, wm, s)
			item[key] = wm[key]
			out = append(out, item)
		}
	}
	return out
}

// keepsOrder reports whether kyaml's merge of items (the patch's items
// first, then the original's other items) gives want's order.
func keepsOrder(orig, want, items []any, key string) bool {
	var order []any
	seen := map[any]bool{}
	for _, c := range items {
		k := c.(map[string]any)[key]
		order, seen[k] = append(order, k), true
	}
	wanted := map[any]bool{}
	for _, w := range want {
		wanted[w.(map[string]any)[key]] = true
	}
	for _, o := range orig {
		if k := o.(map[string]any)[key]; !seen[k] && wanted[k] {
			order = append(order, k)
		}
	}
	if len(order) != len(want) {
		return false
	}
	for i, w := range want {
		if order[i] != w.(map[string]any)[key] {
			return false
		}
	}
	return true
}

// mergeKey is the list's single merge key when the schema has one and
// every item of both lists carries a distinct scalar value for it; ""
// means the list is replaced whole.
func mergeKey(s *openapi.ResourceSchema, lists ...[]any) string {
	if s == nil {
		return ""
	}
	strategy, keys := s.PatchStrategyAndKeyList() // "merge", or "merge,retainKeys" for volumes
	if !strings.Contains(strategy, "merge") || len(keys) != 1 {
		return ""
	}
	key := keys[0]
	for _, list := range lists {
		seen := map[any]bool{}
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				return ""
			}
			v, ok := m[key]
			if !ok || !isScalar(v) || seen[v] {
				return ""
			}
			seen[v] = true
		}
	}
	return key
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int64, float64, int, int32:
		return true
	}
	return false
}

func field(s *openapi.ResourceSchema, name string) *openapi.ResourceSchema {
	if s == nil {
		return nil
	}
	return s.Field(name)
}

func elements(s *openapi.ResourceSchema) *openapi.ResourceSchema {
	if s == nil {
		return nil
	}
	return s.Elements()
}
