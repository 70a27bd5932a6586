package kubetest_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
)

var simOptions = kubetest.ClusterOptions{Nodes: 3, Zones: 3}

// The nodes register as kubelets would, in their zones, and kwok keeps
// them Ready.
func TestClusterNodes(t *testing.T) {
	c := kubetest.StartCluster(t, simOptions)
	t.Logf("simulated cluster started in %s", c.StartTime.Round(100*time.Millisecond))
	nodes, err := c.Typed.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, n := range nodes.Items {
		if !kube.NodeReady(&n) {
			t.Errorf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if n.Labels[corev1.LabelHostname] != n.Name {
			t.Errorf("node %s: hostname label %q", n.Name, n.Labels[corev1.LabelHostname])
		}
		zones[n.Labels[corev1.LabelTopologyZone]] = true
	}
	if len(nodes.Items) != 3 || len(zones) != 3 {
		t.Errorf("%d nodes in zones %v, want 3 nodes in 3 zones", len(nodes.Items), zones)
	}
}

// labels of the test workloads.
func appLabels(app string) map[string]string { return map[string]string{"app": app} }

// spreadDeployment has n replicas that must each run on their own node.
func spreadDeployment(name string, n int32) *appsv1.Deployment {
	l := appLabels(name)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: l}, TopologyKey: corev1.LabelHostname,
						}},
					}},
					Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				},
			},
		},
	}
}

// A Deployment with hard anti-affinity gets one Ready pod per node; a
// drain evicts through the budget and keeps 2 of 3 Ready; a second drain
// is refused by the budget (429) and evicts nothing.
func TestClusterSchedulesAndDrainsWithinBudget(t *testing.T) {
	c := kubetest.StartCluster(t, simOptions)
	ns := c.Namespace(t, "drain")
	ctx := context.Background()
	if _, err := c.Typed.AppsV1().Deployments(ns).Create(ctx, spreadDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: appLabels("web")}},
	}
	if _, err := c.Typed.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := c.WatchReady(t, ns, "app=web", "app")
	w.Wait(t, time.Minute, "3 Ready pods", kubetest.AtLeast(3, "web"))
	nodes := podNodes(t, c, ns, "app=web")
	if len(nodes) != 3 {
		t.Fatalf("pods on nodes %v, want one on each of 3", nodes)
	}
	waitBudgetAllows(t, c, ns, "web", 1)

	w.Reset()
	evicted, err := c.Drain(ctx, "node-1", ns, "app=web", 30*time.Second)
	if err != nil || len(evicted) != 1 {
		t.Fatalf("drain node-1: evicted %v, %v", evicted, err)
	}
	if got := w.Min()["web"]; got != 2 {
		t.Errorf("fewest Ready pods during the drain: %d, want 2", got)
	}
	waitBudgetAllows(t, c, ns, "web", 0) // the replacement has no node left

	evicted, err = c.Drain(ctx, "node-2", ns, "app=web", 3*time.Second)
	if len(evicted) != 0 || !apierrors.IsTooManyRequests(err) {
		t.Errorf("second drain: evicted %v, err %v; want nothing evicted and 429 from the budget", evicted, err)
	}
	if got := w.Min()["web"]; got != 2 {
		t.Errorf("fewest Ready pods after the refused drain: %d, want 2", got)
	}
	for _, n := range []string{"node-1", "node-2"} {
		if err := c.Uncordon(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	w.Wait(t, time.Minute, "3 Ready pods after uncordon", kubetest.AtLeast(3, "web"))
}

func podNodes(t *testing.T, c *kubetest.Cluster, ns, selector string) map[string]string {
	t.Helper()
	pods, err := c.Typed.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for _, p := range pods.Items {
		if kube.PodReady(&p) {
			nodes[p.Spec.NodeName] = p.Name
		}
	}
	return nodes
}

// waitBudgetAllows waits until the disruption controller has computed the
// budget's allowance.
func waitBudgetAllows(t *testing.T, c *kubetest.Cluster, ns, name string, n int32) {
	t.Helper()
	var last *policyv1.PodDisruptionBudget
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		last, err = c.Typed.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && last.Status.ObservedGeneration == last.Generation && last.Status.DisruptionsAllowed == n, nil
	})
	if err != nil {
		t.Fatalf("budget %s/%s: want %d disruptions allowed, status %+v", ns, name, n, last.Status)
	}
}

// A claim binds to a volume the test made; a pod on it is scheduled; a Job
// completes (kwok turns its pod Succeeded).
func TestClusterClaimsAndJobs(t *testing.T) {
	c := kubetest.StartCluster(t, simOptions)
	ns := c.Namespace(t, "storage")
	ctx := context.Background()
	c.AddVolumes(t, corev1.ReadWriteMany, "1Gi", 1)
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := c.Typed.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "job", Image: "registry.k8s.io/pause:3.10", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "shared"}}}},
		}}},
	}
	if _, err := c.Typed.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := c.Typed.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
		return err == nil && j.Status.Succeeded == 1, nil
	})
	if err != nil {
		got, _ := c.Typed.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "shared", metav1.GetOptions{})
		t.Fatalf("the Job did not succeed (claim %s): %v", got.Status.Phase, err)
	}
	got, err := c.Typed.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "shared", metav1.GetOptions{})
	if err != nil || got.Status.Phase != corev1.ClaimBound || got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != kubetest.StorageClass {
		t.Errorf("claim: %v %+v", err, got)
	}
}

// A lost node (its kwok stopped) turns NotReady within the grace period;
// its pods are evicted and replaced on the other nodes; it comes back.
func TestClusterNodeLoss(t *testing.T) {
	c := kubetest.StartCluster(t, simOptions)
	ns := c.Namespace(t, "loss")
	ctx := context.Background()
	d := spreadDeployment("svc", 3)
	d.Spec.Template.Spec.Affinity = nil // room for 3 pods on 2 nodes
	d.Spec.Template.Spec.NodeSelector = nil
	if _, err := c.Typed.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := c.WatchReady(t, ns, "app=svc", "app")
	w.Wait(t, time.Minute, "3 Ready pods", kubetest.AtLeast(3, "svc"))
	lost := ""
	for node := range podNodes(t, c, ns, "app=svc") {
		lost = node
	}
	began := time.Now()
	c.StopNode(t, lost)
	t.Cleanup(func() { c.StartNode(t, lost) })
	c.WaitNodeReady(t, lost, false)
	t.Logf("node %s not Ready after %s", lost, time.Since(began).Round(100*time.Millisecond))
	w.Wait(t, time.Minute, "3 Ready pods off the lost node", func(r map[string]int) bool {
		_, onLost := podNodes(t, c, ns, "app=svc")[lost]
		return r["svc"] == 3 && !onLost
	})
	t.Logf("replacements Ready %s after the loss", time.Since(began).Round(100*time.Millisecond))
}
