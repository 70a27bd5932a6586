package doctor

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestBudgetCheck: the pools of the post-rendered golden (core and
// jobservice, 2 replicas and a surge each, 15 per pod: 90) against
// max_connections as KubeBlocks computes it from the PostgreSQL pods'
// memory limit.
func TestBudgetCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory string // the PostgreSQL container's limit, "" for none
		size   string // core's POSTGRESQL_MAX_OPEN_CONNS, "" to keep ours
		status Status
		msg    string
	}{
		{"no memory limit: KubeBlocks' 10000", "", "", OK, "Harbor opens up to 90 connections (core 3 pods x 15"},
		{"1Gi: 112, ours fit", "1Gi", "", OK, "within max_connections 112 (KubeBlocks' memory / 9531392 for pod mypg-postgresql-0's 1Gi limit)"},
		{"512Mi: 56, ours do not", "512Mi", "", Finding, "Harbor can open up to 90 connections"},
		{"the chart's 900 per pod", "1Gi", "900", Finding, "up to 5400 connections"},
		{"0 is Harbor's unlimited", "64Gi", "0", Finding, "an unlimited number of connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			for _, p := range w.pods("mypg-postgresql-") {
				if tc.memory != "" {
					p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.memory)}
				}
			}
			if tc.size != "" {
				w.editPodSpecs(func(spec *corev1.PodSpec) {
					for i := range spec.Containers[0].Env {
						if e := &spec.Containers[0].Env[i]; e.Name == "POSTGRESQL_MAX_OPEN_CONNS" {
							e.Value = tc.size
						}
					}
				})
			}
			r, _, err := w.diagnose(Options{})
			if err != nil {
				t.Fatal(err)
			}
			var found *Check
			for i, c := range r.Checks {
				if c.Subject == "PostgreSQL harbor/mypg" && c.Check == "pools" {
					found = &r.Checks[i]
				}
			}
			if found == nil || found.Status != tc.status || !strings.Contains(found.Message, tc.msg) {
				t.Fatalf("pools check: %+v, want %s with %q", found, tc.status, tc.msg)
			}
			if tc.status == Finding && !strings.Contains(found.Fix, "helm harborha upgrade") {
				t.Errorf("fix: %q", found.Fix)
			}
		})
	}
}
