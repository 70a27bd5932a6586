package kubetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// KubeBlocks-shaped clusters that really run on the real node: the objects
// KubeBlocks 1.0.1 creates (../shared/kubeblocks/REFERENCE.md and
// fixtures/kb-1.0-pg-redis.yaml) — the Cluster (apps.kubeblocks.io/v1,
// phase Running), pods <c>-<comp>-0/1 with KubeBlocks' labels and
// kubeblocks.io/role, the primary and headless Services, the account
// Secrets with random passwords, a data claim per pod — running
// PostgreSQL 15 (primary + streaming standby) or Redis 7 (primary +
// replica) from the node's images.
//
// KubeBlocks' operator cannot run here (its module is not on the proxy,
// and nothing pulls its images): this helper plays its part where a test
// needs it, and says so in the test log. Not played: Redis Sentinel (the
// Redis cluster has its data component only), pgbouncer, exporters, the
// kbagent sidecar, InstanceSets (the pods have no owner).
//
//	pg := c.KubeBlocksCluster(t, ns, "mypg", kubetest.PostgreSQL)
//	pg.Switchover(t)   // the secondary becomes primary, the old primary its standby
//	pg.Crash(t)        // the primary pod deleted; the operator's failover played
//	i := rd.AddReplica(t) // a scale-out: one more secondary
//	rd.SwitchoverTo(t, i) // that pod becomes primary, every other its secondary
type KBCluster struct {
	Namespace, Name string
	Engine          KBEngine
	Password        string // the account's (postgres / default), in its Secret
	ServiceIP       string // the primary Service's ClusterIP
	Service         string // the primary Service's name
	Replicas        int    // pods <c>-<comp>-0 ... Replicas-1

	c *RealCluster
}

// KBEngine is what a KubeBlocks cluster runs.
type KBEngine struct {
	component, clusterDef, compDef, serviceVersion, account, image, portName string
	port                                                                     int32
}

// The engines KubeBlocksCluster runs.
var (
	PostgreSQL = KBEngine{"postgresql", "postgresql", "postgresql-15-1.0.1", "15.18.0", "postgres", "postgres", "tcp-postgresql", 5432}
	Redis      = KBEngine{"redis", "redis", "redis-7-1.0.1", "7.0.15", "default", "redis", "redis", 6379}
)

// KubeBlocks12API is the UseKubeBlocks version of an API server that
// serves apps.kubeblocks.io/v1 Clusters only, as KubeBlocks 1.2 does
// (apecloud/kubeblocks #10469 deleted v1alpha1; a request for it gets 404):
// the 1.0.1 CRD without its v1alpha1 version, made at test time. The 1.2 CRD
// itself is not among the shared inputs; its v1 schema is 1.0.1's plus
// fields nothing here writes or reads.
const KubeBlocks12API = "1.2-api"

// clusterCRD is the Cluster CRD UseKubeBlocks installs for a version.
func clusterCRD(t testing.TB, version string) *unstructured.Unstructured {
	t.Helper()
	file := version
	if version == KubeBlocks12API {
		file = "1.0.1"
	}
	objs, err := Decode(readAll(t, CRDFile(t, file)))
	if err != nil || len(objs) != 1 || objs[0].GetName() != ClusterCRD {
		t.Fatalf("CRD %s: %d objects, %v", file, len(objs), err)
	}
	crd := objs[0]
	if version == KubeBlocks12API {
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		versions = slices.DeleteFunc(versions, func(v any) bool { m, _ := v.(map[string]any); return m["name"] != "v1" })
		if len(versions) != 1 {
			t.Fatalf("CRD 1.0.1 has no version v1 to serve alone")
		}
		if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		t.Logf("kubetest: playing KubeBlocks 1.2's API server: the 1.0.1 Cluster CRD serving apps.kubeblocks.io/v1 only (v1alpha1 gets 404)")
	}
	return crd
}

// OwnFixture reads testdata/kubeblocks/<file> of this package: the objects
// of KubeBlocks releases ../shared has no fixture for (1.0.2, 1.1, Valkey
// on 1.2), written here from KubeBlocks' source (each file names its
// sources).
func OwnFixture(t testing.TB, file string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(readAll(t, filepath.Join(testutil.RepoRoot(), "internal", "kubetest", "testdata", "kubeblocks", file)))
	if err != nil {
		t.Fatalf("fixture %s: %v", file, err)
	}
	return objs
}

// Pod is the name of the cluster's pod i.
func (k *KBCluster) Pod(i int) string { return fmt.Sprintf("%s-%s-%d", k.Name, k.Engine.component, i) }

// KubeBlocksCluster creates a two-pod cluster of engine in ns (pod 0 the
// primary) and waits until both pods are Ready and the secondary
// replicates. The KubeBlocks 1.0.1 Cluster CRD is installed if needed.
func (c *RealCluster) KubeBlocksCluster(t testing.TB, ns, name string, engine KBEngine) *KBCluster {
	t.Helper()
	began := time.Now()
	c.UseKubeBlocks(t, "1.0.1") // once: a no-op when installed
	k := &KBCluster{Namespace: ns, Name: name, Engine: engine, c: c, Password: randomPassword(t, 16),
		Service: fmt.Sprintf("%s-%s-%s", name, engine.component, engine.component), Replicas: 2}
	cx := ctx(t)
	c.Create(t, ns, k.clusterObject())
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: k.SecretName(), Labels: k.labels(map[string]string{"apps.kubeblocks.io/system-account": engine.account})},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"username": engine.account, "password": k.Password},
	}
	if _, err := c.Typed.CoreV1().Secrets(ns).Create(cx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Secret %s/%s: %v", ns, secret.Name, err)
	}
	for _, svc := range k.services() {
		created, err := c.Typed.CoreV1().Services(ns).Create(cx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating Service %s/%s: %v", ns, svc.Name, err)
		}
		if svc.Name == k.Service {
			k.ServiceIP = created.Spec.ClusterIP
		}
	}
	c.AddVolumes(t, corev1.ReadWriteOnce, "1Gi", 2)
	if err := wait.PollUntilContextTimeout(cx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Typed.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("waiting for the ServiceAccount %s/default: %v", ns, err)
	}
	for i := range 2 {
		k.createPod(t, i, map[bool]string{true: "primary", false: "secondary"}[i == 0])
	}
	k.waitReady(t, k.Pod(0), k.Pod(1))
	k.WaitReplicated(t)
	t.Logf("kubetest: KubeBlocks %s cluster %s/%s running (primary %s, secondary %s) in %v; the operator's part is played by the test",
		engine.component, ns, name, k.Pod(0), k.Pod(1), time.Since(began).Round(time.Millisecond))
	return k
}

// SecretName is the account Secret (keys "username", "password"), as KubeBlocks names it.
func (k *KBCluster) SecretName() string {
	return fmt.Sprintf("%s-%s-account-%s", k.Name, k.Engine.component, k.Engine.account)
}

// labels are KubeBlocks' labels of the component's objects, plus extra.
func (k *KBCluster) labels(extra map[string]string) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/managed-by":      "kubeblocks",
		"app.kubernetes.io/instance":        k.Name,
		"apps.kubeblocks.io/component-name": k.Engine.component,
	}
	for key, v := range extra {
		l[key] = v
	}
	return l
}

func (k *KBCluster) clusterObject() *unstructured.Unstructured {
	e := k.Engine
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.kubeblocks.io/v1", "kind": "Cluster",
		"metadata": map[string]any{
			"name":        k.Name,
			"annotations": map[string]any{"kubeblocks.io/crd-api-version": "apps.kubeblocks.io/v1"},
			"labels":      map[string]any{"clusterdefinition.kubeblocks.io/name": e.clusterDef},
		},
		"spec": map[string]any{
			"clusterDef": e.clusterDef, "topology": "replication", "terminationPolicy": "Delete",
			"componentSpecs": []any{map[string]any{
				"name": e.component, "componentDef": e.compDef, "serviceVersion": e.serviceVersion, "replicas": int64(2),
				"volumeClaimTemplates": []any{map[string]any{"name": "data", "spec": map[string]any{
					"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}}},
			}},
		},
		"status": map[string]any{
			"phase": "Running", "observedGeneration": int64(1),
			"components": map[string]any{e.component: map[string]any{"phase": "Running"}},
		},
	}}
}

func (k *KBCluster) services() []*corev1.Service {
	e := k.Engine
	selector := k.labels(map[string]string{"apps.kubeblocks.io/release-phase": "stable"})
	primary := k.labels(map[string]string{"apps.kubeblocks.io/release-phase": "stable", "kubeblocks.io/role": "primary"})
	ports := []corev1.ServicePort{{Name: e.portName, Port: e.port, TargetPort: intstr.FromString(e.portName)}}
	if e == PostgreSQL {
		ports = append(ports, corev1.ServicePort{Name: "tcp-pgbouncer", Port: 6432, TargetPort: intstr.FromString("tcp-pgbouncer")})
	}
	return []*corev1.Service{
		{
			ObjectMeta: metav1.ObjectMeta{Name: k.Service, Labels: k.labels(nil)},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: primary, Ports: ports},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-headless", k.Name, e.component), Labels: map[string]string{
				"app.kubernetes.io/managed-by": "kubeblocks", "workloads.kubeblocks.io/managed-by": "InstanceSet",
				"workloads.kubeblocks.io/instance": k.Name + "-" + e.component,
			}},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true, Selector: selector,
				Ports: []corev1.ServicePort{{Name: e.portName, Port: e.port, TargetPort: intstr.FromInt32(e.port)}}},
		},
	}
}

// createPod creates pod i in a role, with its data claim
// (data-<pod>, as an InstanceSet's volumeClaimTemplate names it).
func (k *KBCluster) createPod(t testing.TB, i int, role string) {
	t.Helper()
	e, name, cx := k.Engine, k.Pod(i), ctx(t)
	claim := "data-" + name
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim, Labels: k.labels(nil)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := k.c.Typed.CoreV1().PersistentVolumeClaims(k.Namespace).Create(cx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating claim %s/%s: %v", k.Namespace, claim, err)
	}
	password := corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: k.SecretName()}, Key: "password"}}
	var env []corev1.EnvVar
	var probe []string
	if e == PostgreSQL {
		env = []corev1.EnvVar{{Name: "POSTGRES_PASSWORD", ValueFrom: &password}, {Name: "PG_PRIMARY_HOST", Value: k.ServiceIP}}
		probe = []string{"pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"}
	} else {
		env = []corev1.EnvVar{{Name: "REDIS_PASSWORD", ValueFrom: &password}, {Name: "REDIS_PRIMARY_HOST", Value: k.ServiceIP}}
		probe = []string{"sh", "-c", `redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG`}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: k.labels(map[string]string{
			"app.kubernetes.io/component":        e.compDef,
			"apps.kubeblocks.io/service-version": e.serviceVersion,
			"apps.kubeblocks.io/release-phase":   "stable",
			"workloads.kubeblocks.io/managed-by": "InstanceSet",
			"workloads.kubeblocks.io/instance":   k.Name + "-" + e.component,
			"apps.kubeblocks.io/pod-name":        name,
			"kubeblocks.io/role":                 role,
		})},
		Spec: corev1.PodSpec{
			Hostname: name, Subdomain: fmt.Sprintf("%s-%s-headless", k.Name, e.component),
			TerminationGracePeriodSeconds: new(int64(5)),
			Containers: []corev1.Container{{
				Name: e.component, Image: k.c.images[e.image], ImagePullPolicy: corev1.PullNever,
				Ports: []corev1.ContainerPort{{Name: e.portName, ContainerPort: e.port}},
				Env:   env,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: probe}},
					PeriodSeconds: 1, TimeoutSeconds: 5},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "podinfo", MountPath: "/etc/podinfo"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}},
				// The entrypoints start in the role the label gives at
				// (re)start: a restart after a switchover keeps the new role.
				{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			},
		},
	}
	if pod.Spec.Containers[0].Image == "" {
		t.Fatalf("kubetest: image %s not imported (run `make images`)", e.image)
	}
	if _, err := k.c.Typed.CoreV1().Pods(k.Namespace).Create(cx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s/%s: %v", k.Namespace, name, err)
	}
}

// waitReady waits up to two minutes until the pods are Ready.
func (k *KBCluster) waitReady(t testing.TB, pods ...string) {
	t.Helper()
	for _, name := range pods {
		err := wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err := k.c.Typed.CoreV1().Pods(k.Namespace).Get(ctx, name, metav1.GetOptions{})
			return err == nil && kube.PodReady(p), nil
		})
		if err != nil {
			t.Fatalf("waiting for pod %s/%s Ready: %v", k.Namespace, name, err)
		}
	}
}

// Role is the kubeblocks.io/role label of pod i.
func (k *KBCluster) Role(t testing.TB, i int) string {
	t.Helper()
	p, err := k.c.Typed.CoreV1().Pods(k.Namespace).Get(ctx(t), k.Pod(i), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Labels["kubeblocks.io/role"]
}

// Primary is the index of the pod labelled primary.
func (k *KBCluster) Primary(t testing.TB) int {
	t.Helper()
	for i := range k.Replicas {
		if k.Role(t, i) == "primary" {
			return i
		}
	}
	t.Fatalf("no pod of %s/%s is labelled primary", k.Namespace, k.Name)
	return -1
}

// Query runs a statement (SQL for PostgreSQL, a redis-cli command line for
// Redis) on pod i, through the engine's own client in the pod, and returns
// its output trimmed.
func (k *KBCluster) Query(t testing.TB, i int, statement string) string {
	t.Helper()
	out, err := k.query(ctx(t), i, statement)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (k *KBCluster) query(ctx context.Context, i int, statement string) (string, error) {
	var cmd []string
	if k.Engine == PostgreSQL {
		cmd = []string{"psql", "-h", "/var/run/postgresql", "-U", "postgres", "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement}
	} else {
		cmd = []string{"sh", "-c", `redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ` + statement}
	}
	out, err := k.c.Exec(ctx, k.Namespace, k.Pod(i), k.Engine.component, cmd...)
	return strings.TrimSpace(out), err
}

// WaitReplicated waits until every secondary has what the primary wrote
// just before: a row in PostgreSQL (the standby replays it), a key in
// Redis (the replica copies it).
func (k *KBCluster) WaitReplicated(t testing.TB) {
	t.Helper()
	p := k.Primary(t)
	mark := fmt.Sprintf("mark-%d", time.Now().UnixNano())
	var write, read string
	if k.Engine == PostgreSQL {
		write = "CREATE TABLE IF NOT EXISTS kubetest_marks (mark text); INSERT INTO kubetest_marks VALUES ('" + mark + "')"
		read = "SELECT count(*) FROM kubetest_marks WHERE mark = '" + mark + "'"
	} else {
		write, read = "SET kubetest:mark "+mark, "GET kubetest:mark"
	}
	k.Query(t, p, write)
	want := map[bool]string{true: "1", false: mark}[k.Engine == PostgreSQL]
	for s := range k.Replicas {
		if s == p {
			continue
		}
		var got string
		err := wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			got, _ = k.query(ctx, s, read)
			return got == want, nil
		})
		if err != nil {
			t.Fatalf("%s: the secondary %s does not have what the primary %s wrote (read %q, want %q)", k.Name, k.Pod(s), k.Pod(p), got, want)
		}
	}
}

// secondary is the index of the first pod that is not the primary p.
func (k *KBCluster) secondary(p int) int {
	if p == 0 {
		return 1
	}
	return 0
}

// AddReplica scales the cluster out by one pod, as KubeBlocks does for a
// horizontal scaling (played: the Cluster's replicas, a data claim, the
// pod as a secondary of the primary Service), waits until it is Ready and
// replicates, and returns its index. Nothing else is done to it: in
// particular no ACL user is copied (the Redis addon's memberJoin action
// of KubeBlocks 1.0.2 and later is not played).
func (k *KBCluster) AddReplica(t testing.TB) int {
	t.Helper()
	i := k.Replicas
	clusters := k.c.Dynamic.Resource(schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1", Resource: "clusters"}).Namespace(k.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl, err := clusters.Get(ctx(t), k.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		specs, _, _ := unstructured.NestedSlice(cl.Object, "spec", "componentSpecs")
		specs[0].(map[string]any)["replicas"] = int64(i + 1)
		if err := unstructured.SetNestedSlice(cl.Object, specs, "spec", "componentSpecs"); err != nil {
			return err
		}
		_, err = clusters.Update(ctx(t), cl, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scaling Cluster %s/%s to %d replicas: %v", k.Namespace, k.Name, i+1, err)
	}
	k.c.AddVolumes(t, corev1.ReadWriteOnce, "1Gi", 1)
	k.createPod(t, i, "secondary")
	k.Replicas++
	k.waitReady(t, k.Pod(i))
	k.WaitReplicated(t)
	t.Logf("kubetest: KubeBlocks scale-out of %s/%s played: %s is a secondary", k.Namespace, k.Name, k.Pod(i))
	return i
}

// Switchover makes the secondary the primary, as KubeBlocks' switchover
// operation does (played by the test: no operator runs): the secondary is
// promoted (pg_promote / REPLICAOF NO ONE), the role labels move (the
// primary Service follows within a second), and the old primary becomes
// the new one's secondary (PostgreSQL: deleted and recreated, cloned anew
// with pg_basebackup; Redis: REPLICAOF the new primary). Returns how long
// until the primary Service reached the new primary.
func (k *KBCluster) Switchover(t testing.TB) time.Duration {
	t.Helper()
	return k.SwitchoverTo(t, k.secondary(k.Primary(t)))
}

// SwitchoverTo is Switchover to pod s; every other pod becomes its
// secondary (Redis: REPLICAOF; PostgreSQL: the old primary is cloned anew,
// which needs two pods).
func (k *KBCluster) SwitchoverTo(t testing.TB, s int) time.Duration {
	t.Helper()
	began := time.Now()
	p := k.Primary(t)
	if k.Engine == PostgreSQL && k.Replicas != 2 {
		t.Fatalf("kubetest: a PostgreSQL switchover is played for two pods, %s/%s has %d", k.Namespace, k.Name, k.Replicas)
	}
	t.Logf("kubetest: playing KubeBlocks' switchover of %s/%s: %s becomes primary", k.Namespace, k.Name, k.Pod(s))
	if k.Engine == PostgreSQL {
		k.demote(t, p, s)
	}
	k.promote(t, s)
	k.setRole(t, s, "primary")
	k.setRole(t, p, "secondary")
	served := k.waitServiceAt(t, s)
	tookOver := time.Since(began)
	if k.Engine == PostgreSQL {
		k.recreate(t, p, "secondary")
	} else {
		newIP := k.podIP(t, s)
		for i := range k.Replicas {
			if i != s {
				k.Query(t, i, "REPLICAOF "+newIP+" 6379")
			}
		}
	}
	k.WaitReplicated(t)
	t.Logf("kubetest: switchover of %s/%s: Service at the new primary after %v (%v), old primary replicating after %v",
		k.Namespace, k.Name, tookOver.Round(time.Millisecond), served, time.Since(began).Round(time.Millisecond))
	return tookOver
}

// demote plays the first half of a PostgreSQL switchover as KubeBlocks'
// PostgreSQL (Patroni) does it: the old primary p stops serving clients
// before the standby s is promoted, and s replays all p wrote, so no
// write is lost. Here p refuses client connections (pg_hba: its data is
// cloned anew once it is a secondary), its sessions are terminated (as a
// shutdown terminates them: 57P01), and s catches up with p's WAL.
func (k *KBCluster) demote(t testing.TB, p, s int) {
	t.Helper()
	hba := `printf 'local all all trust\nlocal replication all trust\nhost replication all 0.0.0.0/0 scram-sha-256\nhost all all 0.0.0.0/0 reject\n' >"${PGDATA:-/data/pgdata}/pg_hba.conf"`
	if _, err := k.c.Exec(ctx(t), k.Namespace, k.Pod(p), k.Engine.component, "sh", "-c", hba); err != nil {
		t.Fatalf("demoting %s: pg_hba.conf: %v", k.Pod(p), err)
	}
	k.Query(t, p, "SELECT pg_reload_conf()")
	k.Query(t, p, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	lsn := k.Query(t, p, "SELECT pg_current_wal_flush_lsn()")
	err := wait.PollUntilContextTimeout(ctx(t), 50*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
		out, err := k.query(c, s, "SELECT pg_last_wal_replay_lsn() >= '"+lsn+"'::pg_lsn")
		return err == nil && out == "t", nil
	})
	if err != nil {
		t.Fatalf("demoting %s: %s did not replay its WAL up to %s within 30s", k.Pod(p), k.Pod(s), lsn)
	}
}

// waitDown waits until the server of a deleted pod, at ip, is gone (asked
// from pod s): a pod deleted with no grace may still run while its
// endpoint is terminating (still serving) or already gone, and KubeBlocks
// promotes a standby only once the old primary's lease has lapsed, never
// while it still takes writes. A PostgreSQL server told to stop (the kubelet's SIGTERM, then
// SIGKILL after its 2 s minimum grace) refuses new clients at once but
// serves and commits for the sessions it has until it exits: pg_isready's
// "rejecting" (1) is not gone, only "no response" (2) is. Promoting at
// "rejecting" would let the old primary acknowledge writes the new one
// never gets, which no KubeBlocks failover does.
func (k *KBCluster) waitDown(t testing.TB, ip string, s int) {
	t.Helper()
	// Each script exits 0 once the server is gone.
	script := fmt.Sprintf("pg_isready -q -t 1 -h %s -p %d; [ $? -eq 2 ]", ip, k.Engine.port)
	if k.Engine != PostgreSQL {
		script = fmt.Sprintf(`! timeout 1 redis-cli --no-auth-warning -a "$REDIS_PASSWORD" -h %s -p %d PING | grep -qx PONG`, ip, k.Engine.port)
	}
	err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, time.Minute, true, func(c context.Context) (bool, error) {
		_, err := k.c.Exec(c, k.Namespace, k.Pod(s), k.Engine.component, "sh", "-c", script)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("kubetest: the deleted primary at %s still answers after 1m", ip)
	}
}

// Crash deletes the primary pod at once (no grace period), as a machine
// failure would, then plays KubeBlocks' failover: the secondary is
// promoted and labelled primary, and the lost pod comes back (its
// InstanceSet recreates it) as the new primary's secondary. Returns how
// long until the primary Service reached the new primary.
func (k *KBCluster) Crash(t testing.TB) time.Duration {
	t.Helper()
	began := time.Now()
	p := k.Primary(t)
	s := k.secondary(p)
	t.Logf("kubetest: crashing %s/%s (primary of %s) and playing KubeBlocks' failover to %s", k.Namespace, k.Pod(p), k.Name, k.Pod(s))
	ip := k.podIP(t, p)
	k.deletePod(t, p)
	return k.failover(t, p, ip, began)
}

// failover plays KubeBlocks' failover once primary pod p, which served at
// ip, is gone (deleted at began): once its server no longer answers, the
// secondary is promoted and labelled primary, and p comes back as its
// secondary.
func (k *KBCluster) failover(t testing.TB, p int, ip string, began time.Time) time.Duration {
	t.Helper()
	s := k.secondary(p)
	k.waitDown(t, ip, s)
	down := time.Now()
	k.promote(t, s)
	promoted := time.Now()
	k.setRole(t, s, "primary")
	labelled := time.Now()
	k.waitServiceAt(t, s)
	tookOver := time.Since(began)
	// Clock times, to read beside the logs of the pods (same clock).
	t.Logf("kubetest: failover of %s/%s from %s: old primary gone at %s, promoted at %s, labelled at %s, Service there at %s",
		k.Namespace, k.Name, began.Format(clock), down.Format(clock), promoted.Format(clock), labelled.Format(clock), began.Add(tookOver).Format(clock))
	k.createPod(t, p, "secondary")
	k.waitReady(t, k.Pod(p))
	k.WaitReplicated(t)
	t.Logf("kubetest: failover of %s/%s: Service at the new primary after %v, the lost pod back as secondary after %v",
		k.Namespace, k.Name, tookOver.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return tookOver
}

// clock formats the times logged to read beside the pods' logs.
const clock = "15:04:05.000000"

func (k *KBCluster) promote(t testing.TB, i int) {
	t.Helper()
	if k.Engine == PostgreSQL {
		if out := k.Query(t, i, "SELECT pg_promote(true, 30)"); out != "t" {
			t.Fatalf("promoting %s: pg_promote returned %q", k.Pod(i), out)
		}
		return
	}
	if out := k.Query(t, i, "REPLICAOF NO ONE"); out != "OK" {
		t.Fatalf("promoting %s: REPLICAOF NO ONE returned %q", k.Pod(i), out)
	}
}

func (k *KBCluster) setRole(t testing.TB, i int, role string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{"kubeblocks.io/role":%q}}}`, role)
	if _, err := k.c.Typed.CoreV1().Pods(k.Namespace).Patch(ctx(t), k.Pod(i), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("labelling %s/%s %s: %v", k.Namespace, k.Pod(i), role, err)
	}
}

func (k *KBCluster) podIP(t testing.TB, i int) string {
	t.Helper()
	p, err := k.c.Typed.CoreV1().Pods(k.Namespace).Get(ctx(t), k.Pod(i), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Status.PodIP
}

// waitServiceAt waits until the primary Service's only endpoint is pod
// i's IP, and returns that address.
func (k *KBCluster) waitServiceAt(t testing.TB, i int) string {
	t.Helper()
	ip := k.podIP(t, i)
	err := wait.PollUntilContextTimeout(ctx(t), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		slices, err := k.c.Typed.DiscoveryV1().EndpointSlices(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + k.Service})
		if err != nil {
			return false, nil
		}
		var addrs []string
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					addrs = append(addrs, ep.Addresses...)
				}
			}
		}
		return len(addrs) == 1 && addrs[0] == ip, nil
	})
	if err != nil {
		t.Fatalf("waiting for Service %s/%s to reach %s (%s) alone: %v", k.Namespace, k.Service, k.Pod(i), ip, err)
	}
	// The EndpointSlice moves first; kube-proxy rewrites its rules up to
	// its sync period later, and until then a new connection to the
	// ClusterIP still reaches the old pod — or either pod, when kube-proxy
	// synced the moment both were labelled primary (the new one is
	// labelled first). Clients see the Service move when every one of
	// servedByTries connections through it lands on pod i; one would pass
	// half the time while both pods are in the rules (CI saw that).
	err = wait.PollUntilContextTimeout(ctx(t), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		// A connection may hang while the rules still name a deleted pod.
		attempt, cancel := context.WithTimeout(ctx, 3*time.Second*servedByTries)
		defer cancel()
		at, err := k.servedBy(attempt, i)
		moved := err == nil && len(at) == servedByTries && !slices.ContainsFunc(at, func(a string) bool { return a != ip })
		return moved, nil
	})
	if err != nil {
		t.Fatalf("waiting for a connection to Service %s/%s (%s) to reach %s (%s): %v", k.Namespace, k.Service, k.ServiceIP, k.Pod(i), ip, err)
	}
	return ip
}

// servedByTries is how many connections servedBy makes: while kube-proxy
// balances between two pods, all ten land on one of them once in 512.
const servedByTries = 10

// servedBy connects servedByTries times to the primary Service's ClusterIP
// from pod i (one exec) and returns the server's own address as the server
// saw each connection.
func (k *KBCluster) servedBy(ctx context.Context, i int) ([]string, error) {
	var connect string
	if k.Engine == PostgreSQL {
		connect = `PGCONNECT_TIMEOUT=2 PGPASSWORD="$POSTGRES_PASSWORD" psql -h ` + k.ServiceIP + ` -U postgres -AtX -c 'SELECT host(inet_server_addr())'`
	} else {
		// CLIENT INFO's laddr is the server's end of this connection.
		connect = `timeout 2 redis-cli --no-auth-warning -a "$REDIS_PASSWORD" -h ` + k.ServiceIP + ` CLIENT INFO | tr ' ' '\n' | sed -n 's/^laddr=\(.*\):.*/\1/p'`
	}
	script := fmt.Sprintf("n=0; while [ $n -lt %d ]; do %s || exit 1; n=$((n+1)); done", servedByTries, connect)
	out, err := k.c.Exec(ctx, k.Namespace, k.Pod(i), k.Engine.component, "sh", "-c", script)
	return strings.Fields(out), err
}

// recreate deletes pod i and creates it again in a role, its data kept
// (the entrypoint decides what to do with it), and waits until it is Ready.
func (k *KBCluster) recreate(t testing.TB, i int, role string) {
	t.Helper()
	k.deletePod(t, i)
	k.createPod(t, i, role)
	k.waitReady(t, k.Pod(i))
}

// deletePod deletes pod i with no grace period and waits until it is gone.
func (k *KBCluster) deletePod(t testing.TB, i int) {
	t.Helper()
	pods := k.c.Typed.CoreV1().Pods(k.Namespace)
	if err := pods.Delete(ctx(t), k.Pod(i), metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatalf("deleting pod %s/%s: %v", k.Namespace, k.Pod(i), err)
	}
	k.waitGone(t, i)
}

// waitGone waits until pod i is deleted.
func (k *KBCluster) waitGone(t testing.TB, i int) {
	t.Helper()
	pods := k.c.Typed.CoreV1().Pods(k.Namespace)
	err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, k.Pod(i), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("waiting for pod %s/%s to go: %v", k.Namespace, k.Pod(i), err)
	}
}

// randomPassword is n random letters and digits (KubeBlocks 1.0 makes
// 16-character passwords of this kind).
func randomPassword(t testing.TB, n int) string {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		x, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = chars[x.Int64()]
	}
	return string(b)
}

// SetMaxConnections gives the PostgreSQL primary max_connections n (ALTER
// SYSTEM, then the pod recreated on its data: the setting needs a
// restart), as KubeBlocks does for a small memory limit or a
// max_connections parameter. The standby keeps PostgreSQL's default (100),
// which a standby needs at or above its primary's: n must not exceed it.
func (k *KBCluster) SetMaxConnections(t testing.TB, n int) {
	t.Helper()
	if k.Engine != PostgreSQL || n < 5 || n > 100 {
		t.Fatalf("kubetest: SetMaxConnections(%d) on %s: PostgreSQL only, 5 to 100", n, k.Engine.component)
	}
	p := k.Primary(t)
	k.Query(t, p, fmt.Sprintf("ALTER SYSTEM SET max_connections = %d", n))
	k.recreate(t, p, "primary")
	if got := k.Query(t, p, "SHOW max_connections"); got != strconv.Itoa(n) {
		t.Fatalf("kubetest: max_connections of %s is %s after the restart, want %d", k.Pod(p), got, n)
	}
	k.WaitReplicated(t)
}
