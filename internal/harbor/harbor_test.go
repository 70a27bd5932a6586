package harbor

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// A value of the wrong type is one line naming the document and the field
// (decode goes through JSON as the API server does); keys are matched
// case-sensitively, as the API server matches them.
func TestReadNamesTheField(t *testing.T) {
	head := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: myharbor-core\n  namespace: harbor\n" +
		"  labels: {app: harbor, component: core, release: myharbor}\n"
	for _, tt := range []struct{ name, spec, want string }{
		{"replicas a word", "spec:\n  replicas: three\n", "document 1 (Deployment/harbor/myharbor-core): cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"},
		{"port a string", "spec:\n  template:\n    spec:\n      containers: [{name: core, ports: [{containerPort: \"80\"}]}]\n", "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := manifest.Parse([]byte(head + tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Read(docs)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line with %q", err, tt.want)
			}
		})
	}
	docs, err := manifest.Parse([]byte(head + "spec:\n  Replicas: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := decode(docs[0], &d); err != nil || d.Spec.Replicas != nil || d.Name != "myharbor-core" {
		t.Errorf("decode: %v, replicas %v, name %q: a key in the wrong case is no field", err, d.Spec.Replicas, d.Name)
	}
}
