package helmrun

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harborha/helm-harborha/internal/helmexec"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/pipeline"
	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// simNode is a Ready node in a zone, with labels and taints.
func simNode(name, zone string, edit ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if zone != "" {
		n.Labels[corev1.LabelTopologyZone] = zone
	}
	for _, e := range edit {
		e(&n)
	}
	return n
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }
func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }
func label(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[k] = v }
}
func taint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

// knobs resolves post-render flags as the wrappers take them.
func knobs(t *testing.T, args ...string) postrender.Knobs {
	t.Helper()
	var f postrender.Flags
	fs := pflag.NewFlagSet("knobs", pflag.ContinueOnError)
	f.Add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o, err := f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// release reads Helm's arguments as an install does.
func release(t *testing.T, helmArgs ...string) *helmexec.Release {
	t.Helper()
	r, err := helmexec.ParseRelease("install", helmArgs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// valuesFile writes a values file and returns its -f flag.
func valuesFile(t *testing.T, yaml string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-f", p}
}

func TestPreflightPlacement(t *testing.T) {
	three := []corev1.Node{simNode("node-1", "zone-a"), simNode("node-2", "zone-b"), simNode("node-3", "zone-c")}
	tests := []struct {
		name     string
		knobs    []string
		helmArgs []string
		nodes    []corev1.Node
		err      []string // "" : accepted
	}{
		{name: "hard, 3 replicas, 3 nodes", knobs: []string{"--replicas=3", "--anti-affinity=hard"}, nodes: three},
		{name: "hard, 3 replicas, a node cordoned", knobs: []string{"--replicas=3", "--anti-affinity=hard"},
			nodes: []corev1.Node{three[0], three[1], simNode("node-3", "zone-c", cordoned)},
			err:   []string{"preflight: hard anti-affinity needs 3 schedulable nodes for core's 3 replicas, the cluster has 2 (node-3 is cordoned): add nodes, lower --replicas, or use --anti-affinity soft; nothing was created"}},
		{name: "hard, a node not Ready", knobs: []string{"--replicas=3", "--anti-affinity=hard"},
			nodes: []corev1.Node{three[0], three[1], simNode("node-3", "zone-c", notReady)},
			err:   []string{"(node-3 is not Ready)"}},
		{name: "soft: anything goes", knobs: []string{"--replicas=5"}, nodes: three[:1]},
		{name: "hard on one component's exact count", knobs: []string{"--replicas=2,registry=4", "--anti-affinity=hard"}, nodes: three,
			err: []string{"needs 4 schedulable nodes for registry's 4 replicas, the cluster has 3"}},
		{name: "hard, the chart's replicas from the values", knobs: []string{"--anti-affinity=hard"}, helmArgs: []string{"--set", "portal.replicas=4"}, nodes: three,
			err: []string{"for portal's 4 replicas"}},
		{name: "hard, the nodeSelector leaves 2 nodes", knobs: []string{"--replicas=3", "--anti-affinity=hard"},
			helmArgs: []string{"--set", "core.nodeSelector.pool=harbor"},
			nodes:    []corev1.Node{simNode("node-1", "zone-a", label("pool", "harbor")), simNode("node-2", "zone-b", label("pool", "harbor")), three[2]},
			err:      []string{"for core's 3 replicas, the cluster has 2 (node-3 does not match core's nodeSelector)"}},
		{name: "hard, a taint only core tolerates", knobs: []string{"--replicas=3", "--anti-affinity=hard"},
			helmArgs: valuesFile(t, "core:\n  tolerations:\n  - {key: dedicated, operator: Equal, value: harbor, effect: NoSchedule}\n"),
			nodes:    []corev1.Node{three[0], three[1], simNode("node-3", "zone-c", taint("dedicated", "harbor", corev1.TaintEffectNoSchedule))},
			err:      []string{"for portal's 3 replicas, the cluster has 2 (node-3 has taint dedicated=harbor:NoSchedule that portal does not tolerate)"}},
		{name: "a PreferNoSchedule taint does not count", knobs: []string{"--replicas=3", "--anti-affinity=hard"},
			nodes: []corev1.Node{three[0], three[1], simNode("node-3", "zone-c", taint("x", "y", corev1.TaintEffectPreferNoSchedule))}},
		{name: "hard on zones, 2 zones for 3 replicas", knobs: []string{"--replicas=3", "--anti-affinity=hard", "--topology-key=topology.kubernetes.io/zone"},
			nodes: []corev1.Node{three[0], three[1], simNode("node-3", "zone-b")},
			err:   []string{"needs 3 values of node label topology.kubernetes.io/zone among the schedulable nodes for core's 3 replicas, they have 2 (zone-a, zone-b)"}},
		{name: "a node without the topology key takes any number", knobs: []string{"--replicas=3", "--anti-affinity=hard", "--topology-key=example.com/rack"},
			nodes: []corev1.Node{simNode("node-1", "zone-a", label("example.com/rack", "r1")), three[1]}},
		{name: "the user's own required anti-affinity", knobs: []string{"--replicas=3", "--anti-affinity=soft"},
			helmArgs: []string{"--set-json", `jobservice.affinity={"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"harbor","component":"jobservice","release":"myharbor"}},"topologyKey":"kubernetes.io/hostname"}]}}`},
			nodes:    three[:2],
			err:      []string{"for jobservice's 3 replicas, the cluster has 2"}},
		{name: "required node affinity", knobs: []string{"--replicas=2", "--anti-affinity=hard"},
			helmArgs: []string{"--set-json", `registry.affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]}}}`},
			nodes:    []corev1.Node{simNode("node-1", "zone-a", label("disk", "ssd")), three[1], three[2]},
			err:      []string{"for registry's 2 replicas, the cluster has 1 (node-2 does not match registry's node affinity; node-3 does not match registry's node affinity)"}},
		{name: "nginx is not rendered behind an Ingress", knobs: []string{"--replicas=2,nginx=5", "--anti-affinity=hard"}, helmArgs: []string{"--set", "expose.type=ingress"}, nodes: three},
		{name: "the exporter only with metrics", knobs: []string{"--replicas=2,exporter=5", "--anti-affinity=hard"}, nodes: three},
		{name: "the exporter with metrics", knobs: []string{"--replicas=2,exporter=5", "--anti-affinity=hard"}, helmArgs: []string{"--set", "metrics.enabled=true"}, nodes: three,
			err: []string{"for exporter's 5 replicas"}},
		{name: "hard, an autoscaler's maximum above the nodes", knobs: []string{"--autoscale=core=2:5", "--anti-affinity=hard"}, nodes: three,
			err: []string{"preflight: hard anti-affinity needs 5 schedulable nodes for core's up to 5 replicas (--autoscale MAX), the cluster has 3: add nodes, lower --autoscale's MAX, or use --anti-affinity soft"}},
		{name: "hard, every Deployment's maximum fits", knobs: []string{"--autoscale=2:3", "--anti-affinity=hard"}, nodes: three},
		{name: "hard, the bare range leaves trivy at its count", knobs: []string{"--replicas=2", "--autoscale=2:3", "--anti-affinity=hard"}, nodes: three[:2],
			err: []string{"for core's up to 3 replicas (--autoscale MAX), the cluster has 2"}},
		{name: "hard, trivy by name", knobs: []string{"--autoscale=2:3,trivy=2:4", "--anti-affinity=hard"}, nodes: three,
			err: []string{"for trivy's up to 4 replicas (--autoscale MAX)"}},
		{name: "hard, an exact count wins over the bare range", knobs: []string{"--replicas=2,core=3", "--autoscale=2:9", "--anti-affinity=hard"},
			helmArgs: []string{"--set", "expose.type=ingress"}, nodes: three,
			err: []string{"for portal's up to 9 replicas"}},
		{name: "zone spread on 3 zones", knobs: []string{"--zone-spread"}, nodes: three},
		{name: "zone spread on 1 zone", knobs: []string{"--zone-spread"}, nodes: []corev1.Node{simNode("a", "zone-a"), simNode("b", "zone-a")},
			err: []string{"preflight: --zone-spread needs nodes in 2 zones or more, and the 2 schedulable nodes for core carry 1 zone (zone-a): label the nodes with topology.kubernetes.io/zone, or drop --zone-spread"}},
		{name: "zone spread without zone labels", knobs: []string{"--zone-spread"}, nodes: []corev1.Node{simNode("a", ""), simNode("b", "")},
			err: []string{"carry no zone label"}},
		{name: "zone spread, the second zone cordoned", knobs: []string{"--zone-spread"}, nodes: []corev1.Node{simNode("a", "zone-a"), simNode("b", "zone-b", cordoned)},
			err: []string{"the 1 schedulable nodes for core carry 1 zone (zone-a) (b is cordoned)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := userValues(release(t, tt.helmArgs...), kube.NewFlags().Settings())
			if err != nil {
				t.Fatal(err)
			}
			err = checkPlacement(placementNeeds(knobs(t, tt.knobs...), vals, "myharbor", true), tt.nodes)
			if len(tt.err) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			testutil.OneLineWith(t, err.Error(), tt.err...)
		})
	}
}

// The user's values are Helm's merge of the same flags, in Helm's order,
// whatever else is among Helm's arguments.
func TestUserValues(t *testing.T) {
	f := valuesFile(t, "core:\n  replicas: 2\nportal:\n  replicas: 2\n")
	args := append([]string{"myharbor", "harbor/harbor", "--version", "1.19.1", "-n", "harbor", "--wait"}, f...)
	args = append(args, "--set", "core.replicas=3", "--set-string", "jobservice.replicas=4", "--timeout", "5m", "--atomic")
	vals, err := userValues(release(t, args...), kube.NewFlags().Settings())
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(intValue(vals["core"].(map[string]any)["replicas"], 0), intValue(vals["portal"].(map[string]any)["replicas"], 0))
	if got != "3 2" {
		t.Errorf("core and portal replicas %s, want 3 2 (--set wins over -f)", got)
	}
	if _, err := userValues(release(t, "-f", "/does/not/exist.yaml"), kube.NewFlags().Settings()); err == nil {
		t.Error("a missing values file: no error (Helm would refuse it)")
	}
}

// The StorageClass, and what the cluster will not say: skipped, with a line.
func TestRunPreflight(t *testing.T) {
	nodes := []runtime.Object{ptr(simNode("node-1", "zone-a")), ptr(simNode("node-2", "zone-b"))}
	tests := []struct {
		name     string
		knobs    []string
		objs     []runtime.Object
		forbid   string
		err      string
		progress string
		version  string // the API server's; default v1.34.1
		requests int
	}{
		{name: "class exists", knobs: []string{"--shared-pvc=s", "--create-shared-pvc", "--storage-class=cephfs"},
			objs: []runtime.Object{&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "cephfs"}}}, requests: 2},
		{name: "class missing", knobs: []string{"--shared-pvc=s", "--create-shared-pvc", "--storage-class=cephfs"},
			err: "preflight: --storage-class cephfs does not exist on https://fake:6443 (context \"fake\"), so the shared claim would stay Pending", requests: 2},
		{name: "classes not readable", knobs: []string{"--shared-pvc=s", "--create-shared-pvc", "--storage-class=cephfs"}, forbid: "get storageclasses",
			progress: `harborha: preflight skipped a check: forbidden: the current user may not get storageclasses.storage.k8s.io "cephfs" cluster-wide`, requests: 2},
		{name: "nodes not listable", knobs: []string{"--replicas=3", "--anti-affinity=hard"}, objs: nodes, forbid: "list nodes",
			progress: `harborha: preflight skipped a check: forbidden: the current user may not list nodes cluster-wide`, requests: 2},
		{name: "nodes refuse", knobs: []string{"--replicas=3", "--anti-affinity=hard"}, objs: nodes,
			err: "hard anti-affinity needs 3 schedulable nodes for core's 3 replicas, the cluster has 2", requests: 2},
		{name: "the proxy on 1.28", knobs: []string{"--database-proxy-image=dbproxy:1", "--prestop-sleep=0"}, version: "v1.28.3",
			err: `preflight: --database-proxy-image needs Kubernetes 1.29 or later (the proxy runs as a native sidecar), and https://fake:6443 (context "fake") runs v1.28.3: upgrade the cluster, or leave --database-proxy-image out; nothing was created`, requests: 1},
		{name: "the default pause on 1.29", version: "v1.29.0", err: "needs Kubernetes 1.30 or later (the preStop sleep action)", requests: 1},
		{name: "the proxy and no pause on 1.29", knobs: []string{"--database-proxy-image=dbproxy:1", "--prestop-sleep=0"}, version: "v1.29.0", requests: 1},
		{name: "the version hidden", forbid: "get version", progress: "harborha: preflight skipped a check: forbidden", requests: 1},
		{name: "an unstamped build", version: "v0.0.0-master+$Format:%H$", requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objs...)
			cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: cmp.Or(tt.version, "v1.34.1")}
			if tt.forbid != "" {
				verb, res, _ := strings.Cut(tt.forbid, " ")
				cs.PrependReactor(verb, res, func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: res}, "", fmt.Errorf("no"))
				})
			}
			c := &kube.Client{Typed: cs, Context: "fake", Server: "https://fake:6443"}
			k := knobs(t, tt.knobs...)
			var progress bytes.Buffer
			err := runPreflight(context.Background(), pipeline.ClusterOf(c), placementNeeds(k, nil, "myharbor", true), k, &progress)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if !strings.Contains(progress.String(), tt.progress) {
				t.Errorf("progress %q, want %q", progress.String(), tt.progress)
			}
			if n := len(cs.Actions()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Preflight needs nothing of the cluster when no check applies, runs
// only for install and upgrade, and --no-preflight is not a Helm flag.
func TestPreflightScope(t *testing.T) {
	for _, action := range []string{"install", "upgrade", "template"} {
		o, _ := newOptions(t, action, 3)
		t.Setenv("KUBECONFIG", "/does/not/exist")
		args := []string{"myharbor", "./harbor.tgz", "--anti-affinity=hard", "--replicas=3"}
		if action == "template" {
			args = append(args, "--no-discover")
		}
		if err := o.Complete(args); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		err := o.preflight(context.Background(), &stderr)
		skippedLine := strings.Contains(stderr.String(), "harborha: preflight skipped")
		if err != nil || skippedLine != (action != "template") {
			t.Errorf("%s: %v, stderr %q", action, err, stderr.String())
		}
	}
	o, _ := newOptions(t, "install", 3)
	if err := o.Complete([]string{"myharbor", "./harbor.tgz", "--replicas=3", "--no-preflight", "--anti-affinity=hard"}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := o.preflight(context.Background(), &stderr); err != nil || stderr.Len() != 0 {
		t.Errorf("--no-preflight: %v %q", err, stderr.String())
	}
	for _, helm := range []string{testutil.Helm3(t), testutil.Helm4(t)} {
		out, err := exec.Command(helm, "install", "--help").Output()
		if err != nil || strings.Contains(string(out), "--no-preflight") || !strings.Contains(string(out), "--wait") {
			t.Errorf("%s install --help: %v; --no-preflight must not be one of Helm's flags", helm, err)
		}
	}
}
