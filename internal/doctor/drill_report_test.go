package doctor

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/probe"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// drillReport is a report whose drill had one fault of each shape, with
// the figures of issue 21's worst real switchover (measured before the
// probe made API writes: it has none).
func drillReport() *Report {
	r := &Report{Release: release, Namespace: ns}
	r.ok("core", "replicas", "2 of 2 Ready")
	tally := func(push, pull, api [2]int, write ...int) map[probe.Kind]probe.Tally {
		t := map[probe.Kind]probe.Tally{probe.Push: {Requests: push[0], Failed: push[1]}, probe.Pull: {Requests: pull[0], Failed: pull[1]}, probe.API: {Requests: api[0], Failed: api[1]}}
		if len(write) == 2 {
			t[probe.Write] = probe.Tally{Requests: write[0], Failed: write[1]}
		}
		return t
	}
	r.Drill = []DrillResult{
		{Fault: "pod/core", PodFault: &PodFault{Component: "core", Pod: "myharbor-core-7d9f8c6b5-0", Desired: 2, MinReady: 1}, Seconds: 12.4,
			Figures:           &probe.Figures{Requests: 132, ByKind: tally([2]int{24, 0}, [2]int{24, 0}, [2]int{24, 0}, 60, 0), DigestsChecked: 24},
			FirstWriteSeconds: 0.03, PushSeconds: 0.28, Status: OK, Message: "deleted myharbor-core-7d9f8c6b5-0: 2 Ready pods again after 12.40s, never fewer than 1"},
		{Fault: "pod/trivy", PodFault: &PodFault{Component: "trivy", Desired: 1, MinReady: 1}, FirstWriteSeconds: -1, PushSeconds: -1, Status: Warning,
			Message: "not drilled: 1 of 1 Ready; the drill deletes a pod only where the others keep serving"},
		{Fault: "database/switchover", ClusterFault: &ClusterFault{Cluster: "harbor/mypg", OpsRequest: "mypg-harborha-switchover-x7k2p",
			OldPrimary: "mypg-postgresql-0", NewPrimary: "mypg-postgresql-1", RoleMovedSeconds: 1.82, ServiceFollowedSeconds: 1.95, WriteAfterLabelledSeconds: 2.53, PushAfterLabelledSeconds: 2.53}, Seconds: 1.95,
			Figures: &probe.Figures{Requests: 44, FailedRequests: 22, ByKind: tally([2]int{15, 11}, [2]int{14, 0}, [2]int{15, 11}),
				LongestFailureRun: 9, LongestFailureRunSeconds: 2.6, RecoveredSeconds: 6.1, DigestsChecked: 14,
				Errors: []string{"GET /api/v2.0/projects/library: HTTP 500 {\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"unknown: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)\"}]}"}},
			FirstWriteSeconds: 6.1, WriteAfterOverSeconds: 2.4, PushSeconds: 0.42, FailedAfterOver: 18, Failures: switchoverFailures(), Status: Warning,
			Message: "OpsRequest mypg-harborha-switchover-x7k2p to switch over primary mypg-postgresql-0: mypg-postgresql-1 labelled primary after 1.82s, Service mypg-postgresql-postgresql at it after 1.95s"},
		{Fault: "redis/crash", ClusterFault: &ClusterFault{Cluster: "harbor/myredis", OldPrimary: "myredis-redis-0", NewPrimary: "myredis-redis-1",
			RoleMovedSeconds: 0.9, ServiceFollowedSeconds: 1.1, WriteAfterLabelledSeconds: 0.12, PushAfterLabelledSeconds: 0.31}, Seconds: 1.1,
			Figures: &probe.Figures{Requests: 50, FailedRequests: 1, ByKind: tally([2]int{10, 0}, [2]int{10, 1}, [2]int{10, 0}, 20, 0),
				LongestFailureRun: 1, LongestFailureRunSeconds: 0.02, DigestsChecked: 9, Errors: []string{"unexpected EOF"}},
			FirstWriteSeconds: 0.4, PushSeconds: -1, Failures: []Failure{{Kind: probe.Pull, AtSeconds: 0.21, Seconds: 0.02, Error: "unexpected EOF"}}, Status: Finding,
			Message: "deleted primary myredis-redis-0: myredis-redis-1 labelled primary after 0.90s, Service myredis-redis-redis at it after 1.10s; 1 of 10 pulls failed"},
	}
	return r
}

// switchoverFailures are 22 failures, an API call and a push every
// 0.25 s from 0.5 s after the fault: 4 before the Service followed at
// 1.95 s, 18 after.
func switchoverFailures() []Failure {
	var out []Failure
	for i := range 11 {
		at := 0.5 + 0.25*float64(i)
		out = append(out,
			Failure{Kind: probe.API, AtSeconds: at, Seconds: 0.01, Error: "GET /api/v2.0/projects/library: HTTP 500"},
			Failure{Kind: probe.Push, AtSeconds: at + 0.05, Seconds: 0.03, Error: "PUT manifest: HTTP 500"})
	}
	return out
}

// The drill's part of the report, text and JSON, as goldens
// (testdata/drill-report/); beside them, what they must say.
func TestDrillReportForms(t *testing.T) {
	r := drillReport()
	var text, js bytes.Buffer
	if err := output.Text.Write(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := output.JSON.Write(&js, r); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "drill-report")
	testutil.Golden(t, filepath.Join(dir, "expected.text"), text.Bytes())
	testutil.Golden(t, filepath.Join(dir, "expected.json"), js.Bytes())

	// Text: per fault a line with its status, then the probe's figures
	// by kind, then the errors; a fault not drilled has no probe line.
	for _, want := range []string{
		"  finding    redis/crash          deleted primary myredis-redis-0",
		"Harbor: 22 of 44 requests failed (push 11/15, pull 0/14, api 11/15), 18 of them once the fault was over, longest run 9 (2.60s); writes back 6.10s after the fault; after the new primary was labelled a write 2.53s, a push 2.53s (a push takes 0.42s); 14 digests checked",
		"error: unexpected EOF",
		// A pod fault has no label: no push figure, no push length.
		"Harbor: 0 of 132 requests failed (push 0/24, pull 0/24, api 0/24, write 0/60); first write 0.03s after the fault; 24 digests checked",
		// No push before the fault: no time for one.
		"first write 0.40s after the fault; after the new primary was labelled a write 0.12s, a push 0.31s; 9 digests checked",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Count(text.String(), "Harbor: ") != 3 {
		t.Errorf("want a probe line for each of the 3 faults drilled:\n%s", text.String())
	}

	// JSON: the fields TestRealHarbor reads (docs/doctor.md), at the top level of
	// each drill entry; a pod fault has no cluster fields and no probe
	// figures when it was not drilled.
	var back struct {
		Drill []map[string]any `json:"drill"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Drill) != 4 {
		t.Fatalf("JSON: %v, %d entries", err, len(back.Drill))
	}
	sw := back.Drill[2]
	for k, v := range map[string]any{"fault": "database/switchover", "requests": 44.0, "failedRequests": 22.0, "recoveredSeconds": 6.1,
		"firstWriteSeconds": 6.1, "pushSeconds": 0.42, "writeAfterLabelledSeconds": 2.53, "pushAfterLabelledSeconds": 2.53, "roleMovedSeconds": 1.82, "serviceFollowedSeconds": 1.95, "digestsChecked": 14.0, "status": "warning",
		"opsRequest": "mypg-harborha-switchover-x7k2p", "oldPrimary": "mypg-postgresql-0", "newPrimary": "mypg-postgresql-1"} {
		if sw[k] != v {
			t.Errorf("database/switchover %s = %v, want %v", k, sw[k], v)
		}
	}
	if fs, _ := sw["failures"].([]any); len(fs) != 22 || fs[1].(map[string]any)["kind"] != "push" || fs[1].(map[string]any)["atSeconds"] != 0.55 || sw["failedAfterOver"] != 18.0 {
		t.Errorf("failures %v, failedAfterOver %v", sw["failures"], sw["failedAfterOver"])
	}
	if bk, _ := sw["byKind"].(map[string]any); bk["push"].(map[string]any)["failed"] != 11.0 {
		t.Errorf("byKind %v", sw["byKind"])
	}
	if _, ok := back.Drill[0]["cluster"]; ok || back.Drill[0]["component"] != "core" {
		t.Errorf("pod fault %v", back.Drill[0])
	}
	if _, ok := back.Drill[1]["requests"]; ok {
		t.Errorf("a fault not drilled has probe figures: %v", back.Drill[1])
	}
	if r.Code() != ExitFindings {
		t.Errorf("a failed pull: exit %d, want %d", r.Code(), ExitFindings)
	}
}
