package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/export"
)

func init() {
	register(entry{
		name:    "export",
		summary: "write the HA changes as data for Argo CD, Flux or kustomize (kustomization or HelmRelease)",
		help:    exportHelp,
		new:     func() command.Command { return export.NewOptions("helm-harborha " + version) },
	})
}

const exportHelp = `Usage: helm harborha export RELEASE CHART --format kustomize|flux --output-dir DIR [harborha flags] [helm flags]

Takes the arguments of 'helm harborha template' and writes the HA changes as
data instead of applying them:
  --format kustomize  DIR/kustomization.yaml: helmCharts (the chart, the release,
                      the values files copied into DIR), our patches and the
                      objects we add; 'kustomize build --enable-helm DIR' gives
                      what 'helm harborha template' gives (Argo CD runs exactly that)
  --format flux       DIR/helmrelease.yaml: a HelmRelease whose postRenderers carry
                      the patches, and DIR/harborha-objects.yaml with the objects
                      Flux post-renderers cannot add, for a Flux Kustomization of DIR

DIR must not exist or be empty; nothing is written unless all succeeds.
An export never holds a credential: with discovery, the passwords the chart
would read inline are left out (flux reads them from their Secrets).

flags:
`
