package export

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/postrender"
)

// workload is a chart Deployment of a component in a namespace, its data
// on a claim.
func workload(ns, component, volume string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-%[2]s, namespace: %[1]s, labels: {release: myharbor, app: harbor, component: %[2]s}}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: %[2]s}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: %[2]s}}
    spec:
      containers: [{name: %[2]s, image: x, volumeMounts: [{name: %[3]s, mountPath: /data}]}]
      volumes: [{name: %[3]s, persistentVolumeClaim: {claimName: myharbor-%[2]s}}]
`, ns, component, volume)
}

// An export warns exactly as the post-renderer does on the same stream:
// both plan it in one way, namespace by namespace. Here only namespace a
// renders jobservice, so b's registry moves to the shared claim alone.
func TestPlanWarnsAsPostRender(t *testing.T) {
	stream := []byte(strings.Join([]string{
		workload("a", "registry", "registry-data"), workload("a", "jobservice", "job-logs"), workload("b", "registry", "registry-data"),
	}, "---\n"))
	knobs := postrender.DefaultKnobs()
	knobs.SharedPVC = "harbor-shared"
	var warned bytes.Buffer
	r, err := postrender.New(knobs, &warned)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(bytes.NewBuffer(stream)); err != nil {
		t.Fatal(err)
	}
	b, err := plan(stream, knobs)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(warned.String()), "\n") {
		want = append(want, strings.TrimPrefix(l, "harborha post-render: warning: "))
	}
	if !slices.Equal(b.Warnings, want) {
		t.Errorf("export warns\n%q\npost-render warns\n%q", b.Warnings, want)
	}
	if !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(w, "rendered no jobservice workload") }) {
		t.Errorf("no warning that namespace b renders no jobservice: %q", want)
	}
}
