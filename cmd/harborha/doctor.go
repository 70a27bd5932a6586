package main

import (
	"context"

	"github.com/harborha/helm-harborha/internal/doctor"
)

func init() {
	register(command{
		name:    "doctor",
		summary: "check a live Harbor release and its KubeBlocks clusters for high availability; --drill tests failover",
		run:     runDoctor,
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
discovery would choose. No password is read into the report.

--drill then deletes one pod of each component in turn, waits until it is
back at its Ready count, and reports how long each took and whether it
ever had 0 Ready pods. It asks first, unless --yes.

Exit status: 0 healthy, 1 findings, 2 could not check.

Flags:
`

// Exit status of doctor when it could not run (bad flags, no cluster).
const doctorBroken = doctor.ExitUnverified

func runDoctor(ctx context.Context, s *streams, args []string) error {
	var o doctor.Options
	fs, kf, done, err := parseClusterCommand(s, "doctor", doctorHelp, args, true, o.AddFlags)
	if done {
		return nil
	}
	if err == nil {
		err = o.Complete(fs)
	}
	if err == nil {
		err = o.Validate()
	}
	if err != nil {
		return &exitError{code: doctorBroken, err: err}
	}
	code, err := o.Run(ctx, kf.Settings(), doctor.Streams{In: s.in, Out: s.out, Err: s.err})
	if err != nil || code != 0 {
		return &exitError{code: code, err: err} // the report says why, when there is one
	}
	return nil
}
