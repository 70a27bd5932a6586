package main

import (
	"context"

	"github.com/harborha/helm-harborha/internal/postrender"
)

func init() {
	register(command{
		name:    "post-render",
		summary: "read rendered goharbor manifests on stdin, write the HA topology on stdout",
		run: func(_ context.Context, s *streams, args []string) error {
			return postrender.Main(args, s.in, s.out, s.err)
		},
	})
}
