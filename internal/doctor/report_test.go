package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// Other chart versions and shapes read the same way.
func TestDiagnoseOtherReleases(t *testing.T) {
	t.Run("chart 1.14 (older pod labels, no chart budgets) with an existing shared claim", func(t *testing.T) {
		w := newWorldFrom(t, "shared-pvc-1.14-subpaths")
		w.addClaim("harbor-nas", corev1.ReadWriteMany)
		r, _, err := w.diagnose(Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r, nil)
		if r.Code() != ExitHealthy {
			t.Errorf("exit status %d", r.Code())
		}
	})
	t.Run("the chart's internal database and Redis, on ReadWriteOnce claims", func(t *testing.T) {
		w := newWorldFrom(t, "internal-db-redis")
		r, _, err := w.diagnose(Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r, []want{
			{"PostgreSQL", "cluster", Finding, []string{"the chart's internal PostgreSQL (StatefulSet myharbor-database) is in use"}},
			{"Redis", "cluster", Finding, []string{"the chart's internal Redis (StatefulSet myharbor-redis) is in use"}},
			{"registry", "claim", Finding, []string{"claim myharbor-registry (volume registry-data) is ReadWriteOnce, not ReadWriteMany"}},
			{"jobservice", "claim", Finding, []string{"claim myharbor-jobservice (volume job-logs) is ReadWriteOnce, not ReadWriteMany"}},
		})
	})
}

// What stops doctor before any check: one line, naming what to do.
func TestDiagnoseErrors(t *testing.T) {
	tests := []struct {
		name    string
		release string
		edit    func(w *world)
		want    []string
	}{
		{"release not found", "other", func(*world) {}, []string{"no Harbor Deployment or StatefulSet labelled release=other in namespace \"harbor\"", "helm list -n harbor"}},
		{"not a release name", "My_Harbor", func(*world) {}, []string{`release "My_Harbor" is not a Helm release name`}},
		{"deployments forbidden", release, func(w *world) {
			w.fail["list deployments"] = apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", fmt.Errorf("User \"dev\" cannot list"))
		}, []string{`forbidden: user "dev" may not list deployments.apps in namespace "harbor"`, `RBAC must allow verb "list" on resource "deployments" (API group "apps")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.edit(w)
			_, _, err := w.diagnose(Options{Release: tt.release})
			if err == nil {
				t.Fatal("no error")
			}
			testutil.OneLineWith(t, err.Error(), tt.want...)
		})
	}
}

// One list per kind whatever the namespace holds; events only when a pod
// has been Pending long.
func TestDiagnoseRequests(t *testing.T) {
	count := func(w *world) (int, map[string]int) {
		_, actions, err := w.diagnose(Options{})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, a := range actions {
			per[a.GetVerb()+" "+a.GetResource().Resource]++
		}
		return len(actions), per
	}
	w := newWorld(t)
	n, per := count(w)
	if n != 13 || per["list pods"] != 2 || per["get pods"] != 2 || per["get persistentvolumeclaims"] != 1 || per["list events"] != 0 {
		t.Errorf("healthy release: %d requests %v, want 13 (pods listed twice: Harbor's and the clusters'; the 2 registry pods' logs)", n, per)
	}
	for i := range 500 {
		w.objs = append(w.objs, &corev1.ConfigMap{})
		w.objs[len(w.objs)-1].(*corev1.ConfigMap).Name, w.objs[len(w.objs)-1].(*corev1.ConfigMap).Namespace = fmt.Sprintf("unrelated-%d", i), ns
	}
	w.pendingPod("myharbor-core-7d9f8c6b5-2", 1e12)
	if n, per := count(w); n != 14 || per["list events"] != 1 {
		t.Errorf("with a pod Pending long and 500 unrelated objects: %d requests %v, want 14 (one list of events)", n, per)
	}
}

// The text and JSON forms, as goldens, and never a password. The golden
// release references its Redis password (issue 11), so the world is given
// one inline, in a URL of the ConfigMap and of core's env, as a release
// installed without the post-renderer has: doctor reads both places.
func TestReportForms(t *testing.T) {
	const redisPassword = "not-a-real-password" // the golden cases' values
	w := newWorld(t)
	const inline = "redis://:" + redisPassword + "@" + redisIP + ":6379/0?idle_timeout_seconds=30"
	find[*corev1.ConfigMap](w, "myharbor-core").Data["_REDIS_URL_CORE"] = inline
	core := &find[*appsv1.Deployment](w, "myharbor-core").Spec.Template.Spec.Containers[0]
	for i := range core.Env {
		if core.Env[i].Name == "_REDIS_URL_CORE" {
			core.Env[i].Value = inline
		}
	}
	find[*corev1.Pod](w, "mypg-postgresql-1").Spec.NodeName = "node-1"
	w.pendingPod("myharbor-core-7d9f8c6b5-2", 1e12)
	r, _, err := w.diagnose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []output.Format{output.Text, output.JSON} {
		var b bytes.Buffer
		if err := f.Write(&b, r); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), redisPassword) {
			t.Errorf("-o %s shows the Redis password", f)
		}
		testutil.Golden(t, filepath.Join("testdata", "report."+string(f)), b.Bytes())
		if f == output.JSON {
			var back Report
			if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Checks) != len(r.Checks) {
				t.Errorf("JSON does not read back: %v", err)
			}
		}
	}
	if !strings.HasPrefix(r.summary(), "2 findings, ") {
		t.Errorf("summary %q", r.summary())
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		statuses []Status
		drill    []Status
		code     int
	}{
		{[]Status{OK, OK}, nil, ExitHealthy},
		{[]Status{OK, Warning}, nil, ExitHealthy},
		{[]Status{OK, Unchecked}, nil, ExitUnverified},
		{[]Status{Finding, Unchecked}, nil, ExitFindings},
		{[]Status{OK}, []Status{Finding}, ExitFindings},
		{[]Status{OK}, []Status{Unchecked}, ExitUnverified},
	} {
		r := &Report{}
		for _, s := range tt.statuses {
			r.add(Check{Subject: "core", Status: s})
		}
		for _, s := range tt.drill {
			r.Drill = append(r.Drill, DrillResult{Status: s})
		}
		if got := r.Code(); got != tt.code {
			t.Errorf("%v + drill %v: exit %d, want %d", tt.statuses, tt.drill, got, tt.code)
		}
	}
}
