//go:build tools

// Package tools pins the helmfile command for `go build` in this module.
package tools

import _ "github.com/helmfile/helmfile"
