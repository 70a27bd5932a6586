package helmrun

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Who owns spec.replicas, as the managedFields of a live Deployment say
// (shapes as the API server writes them): Helm 4 applies, Helm 3
// updates, the autoscaler writes through the scale subresource.
func TestReplicaOwners(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, sub, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: sub, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	const withReplicas = `{"f:metadata":{"f:labels":{}},"f:spec":{"f:replicas":{},"f:selector":{}}}`
	const without = `{"f:spec":{"f:selector":{},"f:template":{}}}`
	tests := []struct {
		name               string
		managed            []metav1.ManagedFieldsEntry
		appliers, updaters []string
	}{
		{"Helm 4 applied the count", []metav1.ManagedFieldsEntry{entry("helm", metav1.ManagedFieldsOperationApply, "", withReplicas)}, []string{"helm"}, nil},
		{"Helm 3 updated the count", []metav1.ManagedFieldsEntry{entry("helm", metav1.ManagedFieldsOperationUpdate, "", withReplicas)}, nil, []string{"helm"}},
		{"the autoscaler scaled", []metav1.ManagedFieldsEntry{
			entry("helm", metav1.ManagedFieldsOperationApply, "", without),
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "scale", `{"f:spec":{"f:replicas":{}}}`)}, nil, nil},
		{"already handed over", []metav1.ManagedFieldsEntry{
			entry("helm", metav1.ManagedFieldsOperationApply, "", without),
			entry(handoverManager, metav1.ManagedFieldsOperationApply, "", `{"f:spec":{"f:replicas":{}}}`)}, nil, nil},
		{"the status is not the spec", []metav1.ManagedFieldsEntry{entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "status", `{"f:status":{"f:replicas":{}}}`)}, nil, nil},
		{"not JSON", []metav1.ManagedFieldsEntry{entry("helm", metav1.ManagedFieldsOperationApply, "", `{`)}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, u := replicaOwners(tt.managed)
			if !slices.Equal(a, tt.appliers) || !slices.Equal(u, tt.updaters) {
				t.Errorf("appliers %v, updaters %v; want %v, %v", a, u, tt.appliers, tt.updaters)
			}
		})
	}
}
