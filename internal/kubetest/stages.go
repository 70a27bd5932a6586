package kubetest

import "strings"

// kwokStages is the kwok (v0.8.0) Stage configuration of the simulated
// cluster: how a node becomes Ready and keeps its heartbeat, and how a pod
// on it starts, turns Ready, completes (Job pods) and goes away. kwok has
// no stages built in (without --config it exits with "no stages found").
// The template functions (NodeConditions, NodeIPWith, PodIPWith, Now,
// Quote, YAML, Version) and the selector syntax are kwok's Stage API.
//
// Differences from a kubelet, on purpose:
//   - The heartbeat is every 1.5-2.5 s (a kubelet: 10 s; kwok's own example
//     stage: 20-25 s), so that kube-controller-manager can run with a short
//     --node-monitor-grace-period and notice a lost node within seconds.
//     The grace period must stay well above the heartbeat: a node that
//     misses it flaps to Unknown, and the node lifecycle controller marks
//     its pods NotReady and, with the short tolerations the test API server
//     gives pods, evicts them.
//   - A pod turns Ready as soon as it is bound (no image pull, no probes),
//     whatever its status was: fixture pods arrive with a status already
//     written (phase Running, an IP) but no Ready condition.
//   - A pod that is being deleted is removed at once (no grace period), as
//     a kubelet would after its containers stopped.
//
// Nodes and their pods are only touched by the kwok process that manages
// the node (--manage-single-node): stopping that process is the node's
// loss, as far as the control plane can tell.
var kwokStages = strings.Join([]string{
	stage("node-ready", "Node", nodeReady("NotIn"), "", `
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
      phase: Running
`),
	stage("node-heartbeat", "Node", nodeReady("In")+phase("In", "Running"), `
  delay:
    durationMilliseconds: 1500
    jitterDurationMilliseconds: 2500`, `
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range .status.conditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ .lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
  immediateNextStage: true
`),
	stage("pod-ready", "Pod", notDeleted+phase("NotIn", "Succeeded", "Failed")+
		`    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
`, "", `
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      {{ range .spec.readinessGates }}
      - {type: {{ .conditionType | Quote }}, status: "True", lastTransitionTime: {{ $now | Quote }}}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, started: true, restartCount: 0,
         state: {running: {startedAt: {{ $now | Quote }}}}}
      {{ end }}
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, restartCount: 0,
         state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
`),
	stage("pod-complete", "Pod", notDeleted+phase("In", "Running")+
		`    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: ['Job']}
`, "", `
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: false, started: false, restartCount: 0,
         state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}}
      {{ end }}
      phase: Succeeded
`),
	stage("pod-delete", "Pod", `    - {key: '.metadata.deletionTimestamp', operator: Exists}
`, "", `
    finalizers: {empty: true}
    delete: true
`),
}, "---\n")

// stage is one kwok Stage document: for objects of kind (core/v1) that
// match every selector expression, after an optional delay, do next.
func stage(name, kind, expressions, delay, next string) string {
	if delay != "" {
		delay = strings.TrimPrefix(delay, "\n") + "\n"
	}
	return "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: " + name + "\nspec:\n" +
		"  resourceRef: {apiGroup: v1, kind: " + kind + "}\n  selector:\n    matchExpressions:\n" + expressions +
		delay + "  next:" + next
}

// Selector expressions.
const notDeleted = "    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}\n"

func phase(op string, phases ...string) string {
	return "    - {key: '.status.phase', operator: " + op + ", values: ['" + strings.Join(phases, "', '") + "']}\n"
}

func nodeReady(op string) string {
	return `    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: ` + op + ", values: ['True']}\n"
}
