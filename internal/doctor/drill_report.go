package doctor

import (
	"fmt"
	"io"
	"strings"

	"github.com/harborha/helm-harborha/internal/probe"
)

// writeDrill writes the drill's results under the checks: per fault its
// status and what happened, then what the probe through Harbor saw.
func writeDrill(w io.Writer, results []DrillResult) {
	if len(results) == 0 {
		return
	}
	io.WriteString(w, "\nDrill: one fault at a time, Harbor probed throughout (push, pull, API read and write)\n")
	fw := 0
	for _, d := range results {
		fw = max(fw, len(d.Fault))
	}
	indent := strings.Repeat(" ", 2+len(Unchecked)+2+fw+2)
	for _, d := range results {
		fmt.Fprintf(w, "  %-*s  %-*s  %s\n", len(Unchecked), d.Status, fw, d.Fault, d.Message)
		if d.Figures == nil {
			continue
		}
		fmt.Fprintf(w, "%sHarbor: %s\n", indent, probeLine(d))
		for _, e := range d.Errors {
			fmt.Fprintf(w, "%serror: %s\n", indent, e)
		}
	}
}

// probeLine sums up the probe's figures of one fault: "3 of 24 requests
// failed (push 1/8, pull 0/8, api 2/8, write 0/20), longest run 2
// (1.10s); writes back 3.10s after the fault; after the new primary was
// labelled a write 0.30s, a push 1.20s (a push takes 0.90s); 8 digests
// checked". Figures after the fault and after the label may count
// different writes, so each says which it counts.
func probeLine(d DrillResult) string {
	f := d.Figures
	var kinds []string
	for _, k := range probe.Kinds {
		if t, ok := f.ByKind[k]; ok {
			kinds = append(kinds, fmt.Sprintf("%s %d/%d", k, t.Failed, t.Requests))
		}
	}
	s := fmt.Sprintf("%d of %d requests failed (%s)", f.FailedRequests, f.Requests, strings.Join(kinds, ", "))
	if d.FailedAfterOver > 0 {
		s += fmt.Sprintf(", %d of them once the fault was over", d.FailedAfterOver)
	}
	if f.LongestFailureRun > 0 {
		s += fmt.Sprintf(", longest run %d (%.2fs)", f.LongestFailureRun, f.LongestFailureRunSeconds)
	}
	switch {
	case f.RecoveredSeconds < 0:
		s += "; writes never back"
	case f.RecoveredSeconds > 0:
		s += fmt.Sprintf("; writes back %.2fs after the fault", f.RecoveredSeconds)
	case d.FirstWriteSeconds >= 0: // no write failed: how soon one was made
		s += fmt.Sprintf("; first write %.2fs after the fault", d.FirstWriteSeconds)
	}
	if c := d.ClusterFault; c != nil && c.WriteAfterLabelledSeconds >= 0 {
		s += fmt.Sprintf("; after the new primary was labelled a write %.2fs", c.WriteAfterLabelledSeconds)
		if c.PushAfterLabelledSeconds >= 0 {
			s += fmt.Sprintf(", a push %.2fs", c.PushAfterLabelledSeconds)
			if d.PushSeconds >= 0 {
				s += fmt.Sprintf(" (a push takes %.2fs)", d.PushSeconds)
			}
		}
	}
	return s + fmt.Sprintf("; %d digests checked", f.DigestsChecked)
}
