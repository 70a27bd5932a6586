package kubetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestRealNode starts the real node, runs real containers on it, and
// checks that stopping it leaves the host as it was. One test with steps:
// the node is started once (a few seconds) and its teardown is the last
// assertion.
func TestRealNode(t *testing.T) {
	c := StartRealCluster(t)
	t.Logf("start %v (images imported in %v)", c.StartTime.Round(time.Millisecond), c.ImportTime.Round(time.Millisecond))
	ns := c.Namespace(t, "realnode")
	waitServiceAccount(t, c, ns)

	var podIP, svcIP string
	t.Run("a pod from the test image reaches Ready", func(t *testing.T) {
		began := time.Now()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: c.Image(t, "probe"), Args: []string{"serve", ":8080"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}, PeriodSeconds: 1},
			}}},
		}
		if _, err := c.Typed.CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, c, ns, "web", kube.PodReady)
		podIP = p.Status.PodIP
		svc, err := c.Typed.CoreV1().Services(ns).Create(ctx(t), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svcIP = svc.Spec.ClusterIP
		t.Logf("pod web Ready at %s in %v", podIP, time.Since(began).Round(time.Millisecond))
	})
	if podIP == "" {
		t.FailNow()
	}

	t.Run("the host reaches the pod IP and the ClusterIP", func(t *testing.T) {
		for _, addr := range []string{net.JoinHostPort(podIP, "8080"), net.JoinHostPort(svcIP, "80")} {
			body := httpGet(t, "http://"+addr+"/")
			if strings.TrimSpace(body) != "web" {
				t.Errorf("GET %s: %q, want the pod's hostname web", addr, body)
			}
		}
	})

	t.Run("Jobs run to completion: a pod reaches the API server and a ClusterIP", func(t *testing.T) {
		runJob(t, c, ns, "apiserver", c.Image(t, "probe"), "/probe", "apiserver")
		runJob(t, c, ns, "clusterip", c.Image(t, "probe"), "/probe", "get", "http://"+net.JoinHostPort(svcIP, "80")+"/")
	})

	t.Run("a ReadWriteMany claim is shared by two pods", func(t *testing.T) {
		c.AddVolumes(t, corev1.ReadWriteMany, "1Gi", 1)
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "shared"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if _, err := c.Typed.CoreV1().PersistentVolumeClaims(ns).Create(ctx(t), claim, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mount := func(j *batchv1.Job) {
			spec := &j.Spec.Template.Spec
			spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "shared"}}}}
			spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
		}
		runJob(t, c, ns, "writer", c.Image(t, "tools"), mount, "sh", "-c", "echo written-by-writer >/shared/file")
		runJob(t, c, ns, "reader", c.Image(t, "tools"), mount, "grep", "-q", "written-by-writer", "/shared/file")
	})

	t.Run("pods resolve Service names (CoreDNS)", func(t *testing.T) {
		if !c.DNS {
			testutil.Missing(t, "the coredns image in %s (run `make images`)", ImagesDir())
		}
		runJob(t, c, ns, "dns", c.Image(t, "probe"), "/probe", "get", "http://web."+ns+".svc/")
	})

	t.Run("PostgreSQL: the standby replicates, a switchover and a crash fail over", func(t *testing.T) {
		pg := c.KubeBlocksCluster(t, ns, "mypg", PostgreSQL)
		if r := pg.Query(t, 1, "SELECT pg_is_in_recovery()"); r != "t" {
			t.Fatalf("%s: pg_is_in_recovery() = %q, want t (a streaming standby)", pg.Pod(1), r)
		}
		// psql from a Job with the tools image, through the primary Service.
		runJob(t, c, ns, "psql", c.Image(t, "tools"), "sh", "-c",
			fmt.Sprintf(`PGPASSWORD=%q psql -h %s -U postgres -AtX -c 'SELECT 1'`, pg.Password, serviceHost(c, ns, pg.Service, pg.ServiceIP)))
		t.Logf("switchover: Service at the new primary after %v", pg.Switchover(t))
		if pg.Primary(t) != 1 || pg.Query(t, 0, "SELECT pg_is_in_recovery()") != "t" {
			t.Fatalf("after the switchover: primary %d, want 1, and pod 0 a standby", pg.Primary(t))
		}
		t.Logf("crash: Service at the new primary after %v", pg.Crash(t))
		if pg.Primary(t) != 0 {
			t.Fatalf("after the crash of pod 1: primary %d, want 0", pg.Primary(t))
		}
	})

	t.Run("Redis: the replica replicates, a switchover and a crash fail over", func(t *testing.T) {
		rd := c.KubeBlocksCluster(t, ns, "myredis", Redis)
		if r := rd.Query(t, 1, "ROLE"); !strings.HasPrefix(r, "slave") {
			t.Fatalf("%s: ROLE %q, want a replica", rd.Pod(1), r)
		}
		runJob(t, c, ns, "redis-cli", c.Image(t, "tools"), "sh", "-c",
			fmt.Sprintf(`redis-cli --no-auth-warning -h %s -a %q PING | grep -q PONG`, serviceHost(c, ns, rd.Service, rd.ServiceIP), rd.Password))
		t.Logf("switchover: Service at the new primary after %v", rd.Switchover(t))
		t.Logf("crash: Service at the new primary after %v", rd.Crash(t))
	})

	rss := c.RSS()
	var total int64
	var parts []string
	for name, b := range rss {
		total += b
		parts = append(parts, fmt.Sprintf("%s %d MiB", name, b>>20))
	}
	sort.Strings(parts)
	t.Logf("RSS %d MiB: %s", total>>20, strings.Join(parts, ", "))

	if err := c.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	t.Logf("teardown %v", c.Teardown.Round(time.Millisecond))
	if left := c.Leftovers(); len(left) > 0 {
		t.Fatalf("the real node left on the host:\n%s", strings.Join(left, "\n"))
	}
}

// serviceHost is how a pod names a Service: <name>.<ns>.svc with the
// cluster's DNS, its ClusterIP without.
func serviceHost(c *RealCluster, ns, name, ip string) string {
	if c.DNS {
		return name + "." + ns + ".svc"
	}
	return ip
}

func waitServiceAccount(t *testing.T, c *RealCluster, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Typed.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the ServiceAccount %s/default: %v", ns, err)
	}
}

func waitPod(t *testing.T, c *RealCluster, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		p, err = c.Typed.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: %v (status %+v)", ns, name, err, p.Status)
	}
	return p
}

// httpGet GETs url until it answers 200, for up to 30 s: a new Service
// is reachable once the endpoints controller and kube-proxy have seen it
// (until then kube-proxy rejects its ClusterIP: "network is unreachable").
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var body string
	var last error
	err := wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			last = err
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body, last = string(b), fmt.Errorf("%s", resp.Status)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("GET %s: %v", url, last)
	}
	return body
}

// runJob runs a Job of one pod and waits until it succeeds; a failure
// shows the pod's log. args are the command's words, and functions that
// change the Job before it is created.
func runJob(t *testing.T, c *RealCluster, ns, name, image string, args ...any) {
	t.Helper()
	var command []string
	var modify []func(*batchv1.Job)
	for _, a := range args {
		switch a := a.(type) {
		case string:
			command = append(command, a)
		case func(*batchv1.Job):
			modify = append(modify, a)
		}
	}
	began := time.Now()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{BackoffLimit: new(int32(0)), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": name}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: name, Image: image, Command: command, ImagePullPolicy: corev1.PullNever,
			}}},
		}},
	}
	for _, m := range modify {
		m(job)
	}
	jobs := c.Typed.BatchV1().Jobs(ns)
	if _, err := jobs.Create(ctx(t), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var done *batchv1.Job
	err := wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		done = j
		return j.Status.Succeeded > 0 || j.Status.Failed > 0, nil
	})
	if err != nil || done.Status.Succeeded == 0 {
		t.Fatalf("Job %s/%s did not succeed (%v, status %+v); its pods' logs:\n%s", ns, name, err, done.Status, jobLogs(t, c, ns, name))
	}
	t.Logf("Job %s completed in %v", name, time.Since(began).Round(time.Millisecond))
}

func jobLogs(t *testing.T, c *RealCluster, ns, job string) string {
	pods, err := c.Typed.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "job=" + job})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		log, err := c.Typed.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx(t))
		fmt.Fprintf(&b, "%s (%s): %s%v\n", p.Name, p.Status.Phase, log, err)
	}
	return b.String()
}
