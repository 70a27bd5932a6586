package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/doctor"
)

func init() {
	register(entry{
		name:    "doctor",
		summary: "check a live Harbor release and its KubeBlocks clusters for high availability; --drill tests failover under a probe",
		help:    doctorHelp,
		new:     func() command.Command { return &doctor.Options{} },
		failure: doctor.ExitUnverified,
	})
}

const doctorHelp = `Usage: helm harborha doctor RELEASE [flags]

Checks a running Harbor release (namespace: helm's -n, HELM_NAMESPACE) the
way the KubeBlocks Harbor guide's post-install checks do. Per component:
desired and Ready replicas, pods on 2 nodes or more (and 2 zones where the
nodes carry zone labels), one PodDisruptionBudget that allows a disruption
now, pods Pending longer than --pending-after with the scheduler's reason,
and the shared claim Bound and ReadWriteMany. For the KubeBlocks clusters
Harbor's configuration points at: phase Running, exactly one endpoint
behind the primary Service and it is the pod labelled primary, the
database pods on distinct nodes, and Harbor's addresses still the ones
discovery would choose. And that Redis takes the registry's login: from
its configuration, and the last 500 lines of its pods' logs (a refused
registry serves on without its cache). No password is read into the report.

--drill then breaks one thing at a time while a probe logs in to Harbor,
pushes, pulls back (digests compared) and calls the API: --drill alone
(or =pod) deletes one pod of each component in turn; --drill=database and
--drill=redis switch the KubeBlocks primary over (an OpsRequest) or, with
--crash, delete it. Per fault: how long until it was over (the Ready count
back, the role label and the primary Service moved), the requests made
and failed by kind, the longest run of failures, the seconds until writes
were back. A failed pull or writes not back within --timeout is a finding.
Harbor's URL: --harbor-url, else the release's externalURL; the password:
--harbor-password-stdin, else the release's admin Secret. It asks first,
unless --yes.

Exit status: 0 healthy, 1 findings, 2 could not check.

Flags:
`
