package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/postrender"
)

func init() {
	register(entry{
		name:    "post-render",
		summary: "read rendered goharbor manifests on stdin, write the HA topology on stdout",
		help:    postrender.Help,
		new:     func() command.Command { return &postrender.Options{} },
		report:  postrender.ReportError,
	})
}
