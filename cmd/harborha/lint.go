package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/lint"
)

// lintBroken is lint's exit status when it could not run (bad flags or
// input, a chart that does not render, an unreachable API server), so CI
// can tell "not HA" (1) from "not checked".
const lintBroken = 2

func init() {
	register(entry{
		name:    "lint",
		summary: "check a rendered Harbor release (or a chart) for what keeps it from being highly available",
		help:    lint.Help,
		new:     func() command.Command { return &lint.Options{Version: version} },
		failure: lintBroken,
	})
}
