package doctor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
)

// On the real node, with real Redis pods (KubeBlocks' part played by
// kubetest): bootstrap gives Harbor's ACL user to both pods; a replica
// added afterwards lacks it (ACL users are not replicated); doctor reports
// that pod; a failover to it breaks Harbor's login (redis-cli AUTH as
// Harbor's user through the primary Service, as Harbor connects); bootstrap
// run again gives it the user, and doctor is content.
func TestRealACLDrift(t *testing.T) {
	c := kubetest.StartRealCluster(t)
	began := time.Now()
	ns := c.Namespace(t, "acl-drift")
	rd := c.KubeBlocksCluster(t, ns, "myredis", kubetest.Redis)
	client := &kube.Client{Typed: c.Typed, Dynamic: c.Dynamic, Namespace: ns, Server: c.Server, Context: kubetest.Context}
	ctx := context.Background()

	// bootstrap as `helm harborha bootstrap myharbor --redis-user harbor` runs it on this cluster.
	runBootstrap := func() *bootstrap.RedisResult {
		t.Helper()
		res, err := bootstrap.Run(ctx, client, bootstrap.Spec{Release: release, Namespace: ns, RedisImage: c.Image(t, "tools"),
			Progress: testWriter{t}, Timeout: 2 * time.Minute,
			Redis: &bootstrap.RedisTarget{User: "harbor", Service: rd.Service, Endpoint: bootstrap.Endpoint{
				Namespace: ns, Host: rd.ServiceIP, Port: 6379, Secret: bootstrap.SecretRef{Name: rd.Name + "-redis-account-default"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Redis
	}
	res := runBootstrap()
	if len(res.Nodes) != 2 {
		t.Fatalf("bootstrap configured %v, want both pods", res.Nodes)
	}
	secret, err := c.Typed.CoreV1().Secrets(ns).Get(ctx, res.Secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	password := string(secret.Data[bootstrap.RedisPasswordKey])

	// Harbor, as far as doctor reads it: core's Redis URL with the user,
	// the password by reference (the post-renderer's form).
	labels := map[string]string{harbor.LabelRelease: release, harbor.LabelApp: "harbor", harbor.LabelComponent: "core"}
	core := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: release + "-core", Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "core", Image: c.Image(t, "probe"),
				Env: []corev1.EnvVar{
					{Name: "HARBORHA_REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: res.Secret}, Key: bootstrap.RedisPasswordKey}}},
					{Name: "_REDIS_URL_CORE", Value: "redis://harbor:$(HARBORHA_REDIS_PASSWORD)@" + rd.ServiceIP + ":6379/0"},
				},
			}}}},
		},
	}
	if _, err := c.Typed.AppsV1().Deployments(ns).Create(ctx, core, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	acl := func(wantStatus Status, says ...string) {
		t.Helper()
		r, err := Diagnose(ctx, client, &Options{Release: release, PendingAfter: DefaultPendingAfter})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range r.Checks {
			if ch.Check == "acl" {
				t.Logf("doctor: %s %s %s", ch.Status, ch.Check, ch.Message)
				if ch.Status != wantStatus || !containsAll(ch.Message, says) {
					t.Errorf("acl check %s %q, want %s saying %q", ch.Status, ch.Message, wantStatus, says)
				}
				return
			}
		}
		t.Errorf("no acl check of Redis %s/%s: %+v", ns, rd.Name, r.Checks)
	}
	// auth sends AUTH harbor <password> the way Harbor connects: to the
	// primary Service, from a pod of the cluster (redis-cli is there).
	auth := func() string {
		t.Helper()
		out, err := c.Exec(ctx, ns, rd.Pod(0), "redis", "redis-cli", "-h", rd.ServiceIP, "-p", "6379", "AUTH", "harbor", password)
		if err != nil {
			t.Fatal(strings.ReplaceAll(err.Error(), password, "<password>"))
		}
		out = strings.TrimSpace(out)
		t.Logf("$ redis-cli -h %s -p 6379 AUTH harbor <password of Secret %s>   # primary %s\n%s", rd.ServiceIP, res.Secret, rd.Pod(rd.Primary(t)), out)
		return out
	}

	acl(OK, `user "harbor": bootstrap gave it to every data pod (myredis-redis-0, myredis-redis-1)`)
	if got := auth(); got != "OK" {
		t.Fatalf("Harbor's user cannot log in to the primary after bootstrap: %s", got)
	}

	added := rd.AddReplica(t) // a scale-out after bootstrap
	acl(Finding, fmt.Sprintf("pod %s (secondary) joined after bootstrap", rd.Pod(added)), "Harbor cannot log in after a failover to it")

	rd.SwitchoverTo(t, added)
	if got := auth(); !strings.Contains(got, "WRONGPASS") {
		t.Errorf("after a failover to %s, which lacks the user, AUTH as Harbor's user says %q, want WRONGPASS", rd.Pod(added), got)
	}

	res = runBootstrap()
	if len(res.Nodes) != 3 {
		t.Errorf("bootstrap run again configured %v, want the three pods", res.Nodes)
	}
	if got := auth(); got != "OK" {
		t.Errorf("after bootstrap ran again, AUTH as Harbor's user on %s says %q, want OK", rd.Pod(added), got)
	}
	acl(OK, `user "harbor": bootstrap gave it to every data pod (myredis-redis-0, myredis-redis-1, myredis-redis-2)`)
	t.Logf("ACL drift found and fixed on the real node in %v", time.Since(began).Round(time.Second))
}

// testWriter sends bootstrap's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
