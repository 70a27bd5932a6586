package kubetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageClass is the simulated cluster's default StorageClass. It has no
// provisioner: a claim binds only to a PersistentVolume a test made with
// AddVolumes, at once (Immediate), and a claim without one stays Pending,
// which keeps its pods unschedulable, as on a cluster out of storage.
const StorageClass = "kubetest-local"

func (c *Cluster) createStorageClass(ctx context.Context) error {
	immediate := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: StorageClass, Annotations: map[string]string{
			// The DefaultStorageClass admission plugin gives it to claims
			// that name no class (the chart's trivy claims, harborha's
			// shared claim without --storage-class).
			"storageclass.kubernetes.io/is-default-class": "true",
		}},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: &immediate,
	}
	if _, err := c.Typed.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating StorageClass %s: %v", StorageClass, err)
	}
	return nil
}

// AddVolumes creates n PersistentVolumes of the class StorageClass with one
// access mode and a size, and returns their names. Any claim that asks for
// that mode and at most that size may bind one (volumes are cluster-wide:
// give each test what its claims need). They are hostPath volumes, which
// nothing mounts: no kubelet runs.
func (c *Cluster) AddVolumes(t testing.TB, mode corev1.PersistentVolumeAccessMode, size string, n int) []string {
	t.Helper()
	return c.addVolumes(t, mode, size, n, func(name string) *corev1.HostPathVolumeSource {
		return &corev1.HostPathVolumeSource{Path: "/kubetest/" + name}
	})
}

// addVolumes creates the volumes of AddVolumes with the hostPath source
// hostPath(name).
func (c *Cluster) addVolumes(t testing.TB, mode corev1.PersistentVolumeAccessMode, size string, n int, hostPath func(name string) *corev1.HostPathVolumeSource) []string {
	t.Helper()
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "rwo", corev1.ReadWriteMany: "rwx", corev1.ReadOnlyMany: "rox", corev1.ReadWriteOncePod: "rwop",
	}[mode]
	var names []string
	for range n {
		name := fmt.Sprintf("pv-%s-%s-%06d", short, strings.ToLower(size), rand.IntN(1000000))
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{mode},
				StorageClassName:              StorageClass,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: hostPath(name)},
			},
		}
		if _, err := c.Typed.CoreV1().PersistentVolumes().Create(ctx(t), pv, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating PersistentVolume %s: %v", name, err)
		}
		names = append(names, name)
	}
	return names
}
