package main

import (
	"fmt"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/helmrun"
)

func init() {
	for _, action := range []string{"install", "upgrade", "template"} {
		step := "creates Harbor's database, role and Redis user (as 'bootstrap' does) unless --no-bootstrap;"
		if action == "template" {
			step = "(template changes nothing in the cluster: no bootstrap);"
		}
		register(entry{
			name:    action,
			summary: fmt.Sprintf("helm %s, on the discovered KubeBlocks clusters, post-rendered into an HA topology", action),
			help:    fmt.Sprintf(wrapperHelp, action, step),
			new:     func() command.Command { return helmrun.NewOptions(action, "helm-harborha "+version) },
		})
	}
}

const wrapperHelp = `Usage: helm harborha %[1]s [RELEASE] CHART [harborha flags] [helm flags] [-- helm flags]

Runs your own Helm (HELM_BIN, else helm on PATH; Helm 3 or 4):
  1. discovers the KubeBlocks PostgreSQL and Redis clusters and builds the
     chart's values overlay (--no-discover: only the values you give);
  2. %[2]s
  3. runs 'helm %[1]s' with the overlay as the FIRST values file (your own
     -f and --set come after it and win) and the harborha post-renderer
     attached; every other flag is passed to Helm untouched. Exit status is
     Helm's.

Telling the flags apart: the flags below are harborha's and are consumed;
everything else goes to Helm in its order; after "--" everything is Helm's.
Helm's -n, --kube-context and --kubeconfig serve both.

harborha flags:
`
