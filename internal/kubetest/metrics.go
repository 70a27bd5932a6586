package kubetest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Usage is what a metrics double reports a container of a pod uses; nil
// leaves the pod out (metrics-server has no sample for it yet).
type Usage func(pod *corev1.Pod, container string) corev1.ResourceList

// Metrics plays metrics-server's part on the simulated cluster: an
// in-test HTTPS server behind the aggregated APIService
// v1beta1.metrics.k8s.io, answering the resource metrics API (the pods of
// a namespace by label selector, what the HorizontalPodAutoscaler
// controller of kube-controller-manager reads) with the usage the test
// sets, for the cluster's real pods. The API server reaches it through an
// ExternalName Service naming localhost: no kube-proxy is needed.
type Metrics struct {
	mu    sync.Mutex
	usage Usage
}

// SetUsage changes the usage reported from now on.
func (m *Metrics) SetUsage(u Usage) {
	m.mu.Lock()
	m.usage = u
	m.mu.Unlock()
}

// metricsWindow is the window every sample is said to cover. The
// autoscaler ignores a pod's CPU sample taken within one window of the
// pod turning Ready; a short window lets new pods count within seconds.
const metricsWindow = time.Second

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// ServeMetrics starts the metrics double with usage and registers it as
// the cluster's metrics.k8s.io API until the test ends; it returns once
// the API server reports the APIService Available. One test at a time
// may serve metrics (the APIService is cluster-wide).
func (c *Cluster) ServeMetrics(t testing.TB, usage Usage) *Metrics {
	t.Helper()
	m := &Metrics{usage: usage}
	srv := httptest.NewUnstartedServer(m.handler(c))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)

	cx := ctx(t)
	const ns, name = "kube-system", "harborha-metrics-double"
	c.EnsureNamespace(t, ns)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	if _, err := c.Typed.CoreV1().Services(ns).Create(cx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("metrics double: %v", err)
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1",
			"service":               map[string]any{"namespace": ns, "name": name, "port": int64(p)},
			"insecureSkipTLSVerify": true, // the double's certificate is httptest's
			"groupPriorityMinimum":  int64(100), "versionPriority": int64(100),
		},
	}}
	if _, err := c.Dynamic.Resource(apiServiceGVR).Create(cx, apiService, metav1.CreateOptions{}); err != nil {
		t.Fatalf("metrics double: %v", err)
	}
	t.Cleanup(func() {
		cx := context.Background()
		if err := c.Dynamic.Resource(apiServiceGVR).Delete(cx, "v1beta1.metrics.k8s.io", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("metrics double: %v", err)
		}
		if err := c.Typed.CoreV1().Services(ns).Delete(cx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("metrics double: %v", err)
		}
	})
	if err := c.waitFor(cx, "the APIService v1beta1.metrics.k8s.io Available (the metrics double)", func(ctx context.Context) (bool, error) {
		got, err := c.Dynamic.Resource(apiServiceGVR).Get(ctx, "v1beta1.metrics.k8s.io", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cond := range conds {
			if m, _ := cond.(map[string]any); m["type"] == "Available" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// handler answers the requests the aggregator and the autoscaler make:
// discovery of the group version, and pod metrics by namespace and label
// selector. Everything else (OpenAPI, node metrics) is 404, which the
// aggregator tolerates.
func (m *Metrics) handler(c *Cluster) http.Handler {
	const prefix = "/apis/metrics.k8s.io/v1beta1"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
			"resources": []any{
				map[string]any{"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": []string{"get", "list"}},
			},
		})
	})
	mux.HandleFunc("GET "+prefix+"/namespaces/{ns}/pods", func(w http.ResponseWriter, r *http.Request) {
		pods, err := c.Typed.CoreV1().Pods(r.PathValue("ns")).List(r.Context(), metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items := []any{}
		for i := range pods.Items {
			if item := m.podMetrics(&pods.Items[i]); item != nil {
				items = append(items, item)
			}
		}
		writeJSON(w, map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": items})
	})
	return mux
}

// podMetrics is one pod's PodMetrics, sampled now, or nil for a pod that
// does not run (metrics-server reports only running pods) or that the
// usage leaves out.
func (m *Metrics) podMetrics(p *corev1.Pod) map[string]any {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return nil
	}
	m.mu.Lock()
	usage := m.usage
	m.mu.Unlock()
	var containers []any
	for _, ctr := range p.Spec.Containers {
		u := usage(p, ctr.Name)
		if u == nil {
			return nil
		}
		q := map[string]string{}
		for k, v := range u {
			q[string(k)] = v.String()
		}
		containers = append(containers, map[string]any{"name": ctr.Name, "usage": q})
	}
	return map[string]any{
		"metadata":   map[string]any{"name": p.Name, "namespace": p.Namespace, "labels": p.Labels, "creationTimestamp": time.Now().UTC().Format(time.RFC3339)},
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"window":     metricsWindow.String(),
		"containers": containers,
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
