package postrender

func containsJSON[T any](list []T, v T) bool {
	for _, x := range list {
		if equalJSON(x, v) {
			return true
		}
	}
	return false
}
