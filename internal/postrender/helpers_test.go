package postrender

import (
	"encoding/json"
	"reflect"
)

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return reflect.DeepEqual(ja, jb)
}

func containsJSON[T any](list []T, v T) bool {
	for _, x := range list {
		if equalJSON(x, v) {
			return true
		}
	}
	return false
}
