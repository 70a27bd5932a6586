// Package harbor holds the process-level proof that the Harbor images built
// from source (make harbor-images: bin/images/<name>/rootfs) really run:
// core, jobservice, the registry and registryctl, started from their image
// root filesystems as plain processes (no container runtime, no chroot) on
// the configuration the goharbor chart renders, against a throwaway
// PostgreSQL and Redis. An image pushed through core pulls back with the
// same digest. This is what the end-to-end test on a real node relies on,
// without the node.
package harbor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// adminPassword is the chart's harborAdminPassword default.
const adminPassword = "Harbor12345"

// harborUID is the chart's runAsUser and fsGroup.
const harborUID = 10000

func TestPushPullThroughCore(t *testing.T) {
	images := imagesDir(t)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	envexpand := testutil.Tool(t, "HARBORHA_ENVEXPAND", "k8s/envexpand")
	pg := startPostgres(t)
	rd := startRedis(t)

	// Every pod listens on 8080 in Kubernetes; here each process gets its
	// own loopback port, and the chart's Service addresses point at them.
	port := map[string]int{}
	for _, c := range []string{"core", "jobservice", "registry", "registryctl", "registry-debug", "closed"} {
		port[c] = freePort(t)
	}
	url := func(c string) string { return "http://127.0.0.1:" + strconv.Itoa(port[c]) }
	addresses := strings.NewReplacer(
		"http://myharbor-core:80", url("core"),
		"http://127.0.0.1:8080", url("core"), // CORE_LOCAL_URL
		"http://myharbor-jobservice", url("jobservice"),
		"http://myharbor-registry:5000", url("registry"),
		"http://myharbor-registry:8080", url("registryctl"),
		"http://myharbor-portal", url("closed"),
		"http://myharbor-trivy:8080", url("closed"),
	)

	// The chart's own generated secrets, not testutil's pinned ones: the
	// pinned token key is PKCS#8 ("PRIVATE KEY"), which Harbor's token
	// service refuses (docker/libtrust UnmarshalPrivateKeyPEM takes only
	// "RSA PRIVATE KEY" and "EC PRIVATE KEY"): every login fails with 500.
	stream := testutil.Run(t, nil, testutil.Helm3(t), "template", "myharbor", chart, "--namespace", "harbor",
		"--kube-version", testutil.KubeVersion, "--set", strings.Join([]string{
		"externalURL=" + url("core"),
		"expose.type=clusterIP", "expose.tls.enabled=false",
		"database.type=external", "database.external.host=127.0.0.1", "database.external.port=" + strconv.Itoa(pg.port),
		"database.external.username=harbor", "database.external.password=" + dbPassword, "database.external.coreDatabase=registry",
		"redis.type=external", "redis.external.addr=127.0.0.1:" + strconv.Itoa(rd.port), "redis.external.password=" + redisPassword,
	}, ","))
	rendered := readPods(t, stream, envexpand)

	work := accountFor(t, harborUID, harborUID).dir(t, "harborha-harbor-")
	write := func(rel string, data []byte) string {
		p := filepath.Join(work, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	storage := filepath.Join(work, "storage")
	jobLogs := filepath.Join(work, "job-logs")
	for _, d := range []string{storage, jobLogs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			os.Chown(d, harborUID, harborUID)
		}
	}

	registry := rendered.container(t, "myharbor-registry", "registry")
	registryConfig := write("registry/config.yml", registry.file(t, "/etc/registry/config.yml"))
	// distribution overrides any config field from REGISTRY_<PATH>.
	registryEnv := map[string]string{
		"REGISTRY_HTTP_ADDR":                        "127.0.0.1:" + strconv.Itoa(port["registry"]),
		"REGISTRY_HTTP_DEBUG_ADDR":                  "127.0.0.1:" + strconv.Itoa(port["registry-debug"]),
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": storage,
		"REGISTRY_AUTH_HTPASSWD_PATH":               write("registry/passwd", registry.file(t, "/etc/registry/passwd")),
	}
	ctl := rendered.container(t, "myharbor-registry", "registryctl")
	ctlEnv := map[string]string{
		"PORT":            strconv.Itoa(port["registryctl"]),
		"REGISTRY_CONFIG": registryConfig,
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": storage,
	}
	core := rendered.container(t, "myharbor-core", "core")
	appConf := strings.Replace(string(core.file(t, "/etc/core/app.conf")), "httpport = 8080", "httpport = "+strconv.Itoa(port["core"]), 1)
	coreEnv := map[string]string{
		"CONFIG_PATH":            write("core/app.conf", []byte(appConf)),
		"KEY_PATH":               write("core/key", core.file(t, "/etc/core/key")),
		"TOKEN_PRIVATE_KEY_PATH": write("core/private_key.pem", core.file(t, "/etc/core/private_key.pem")),
		"PORT":                   strconv.Itoa(port["core"]),
	}
	js := rendered.container(t, "myharbor-jobservice", "jobservice")
	jsConfig := strings.ReplaceAll(string(js.file(t, "/etc/jobservice/config.yml")), `"/var/log/jobs"`, strconv.Quote(jobLogs))
	jsEnv := map[string]string{"JOB_SERVICE_PORT": strconv.Itoa(port["jobservice"])}

	// The commands of each image's entrypoint script, from its rootfs.
	rootfs := func(image string) string { return filepath.Join(images, image, "rootfs") }
	harborUser := accountFor(t, harborUID, harborUID)
	procs := []*process{
		{name: "registry", dir: "/", bin: rootfs("registry-photon") + "/usr/bin/registry_DO_NOT_USE_GC",
			args: []string{"serve", registryConfig}, env: registry.with(addresses, registryEnv)},
		{name: "registryctl", dir: "/", bin: rootfs("harbor-registryctl") + "/home/harbor/harbor_registryctl",
			args: []string{"-c", write("registryctl/config.yml", ctl.file(t, "/etc/registryctl/config.yml"))}, env: ctl.with(addresses, ctlEnv)},
		{name: "core", dir: rootfs("harbor-core") + "/harbor", bin: rootfs("harbor-core") + "/harbor/harbor_core",
			env: core.with(addresses, coreEnv)},
		{name: "jobservice", dir: rootfs("harbor-jobservice") + "/harbor", bin: rootfs("harbor-jobservice") + "/harbor/harbor_jobservice",
			args: []string{"-c", write("jobservice/config.yml", []byte(jsConfig))}, env: js.with(addresses, jsEnv)},
	}
	var harbor []*running
	for _, p := range procs[:3] {
		harbor = append(harbor, p.start(t, harborUser, work))
	}
	began := time.Now()
	waitFor(t, "core /api/v2.0/ping", harbor, func() error { return get(url("core")+"/api/v2.0/ping", nil) })
	t.Logf("core answers %.1f s after start (migrations of an empty database included)", time.Since(began).Seconds())
	// jobservice loads its configuration (the database's too) from core
	// and exits when core does not answer yet: the kubelet would restart it.
	harbor = append(harbor, procs[3].start(t, harborUser, work))
	waitFor(t, "core /api/v2.0/health: core, database, redis, registry, registryctl and jobservice healthy", harbor, func() error {
		return healthy(url("core"), "core", "database", "redis", "registry", "registryctl", "jobservice")
	})

	// Push a random image through core (token service and /v2/ proxy) as
	// admin, pull it back, read every blob.
	ref, err := name.ParseReference(fmt.Sprintf("127.0.0.1:%d/library/harborha-smoke:%d", port["core"], time.Now().UnixNano()), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	pushed, _ := img.Digest()
	pulled, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != pushed {
		t.Fatalf("pulled %s as %s, pushed %s", ref, got, pushed)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verified against its digest while read
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("reading a layer of %s: %v", ref, err)
		}
		rc.Close()
	}
	t.Logf("pushed %s %s, pulled %s (%d layers read back)", ref, pushed, got, len(layers))

	// Each component uses Redis with the password: core's sessions and
	// caches (database 0), jobservice's queues (1), the registry's blob
	// descriptor cache (2).
	for _, db := range []struct {
		index int
		whose string
	}{{0, "core"}, {1, "jobservice"}, {2, "registry"}} {
		n := rd.keys(t, db.index)
		if n == 0 {
			t.Errorf("Redis database %d (%s) holds no key after the push", db.index, db.whose)
		}
		t.Logf("Redis database %d (%s): %d keys", db.index, db.whose, n)
	}
}

// imagesDir is bin/images (HARBORHA_HARBOR_IMAGES), holding the images
// this test runs.
func imagesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HARBORHA_HARBOR_IMAGES")
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(), "bin", "images")
	}
	for _, image := range []string{"harbor-core", "harbor-jobservice", "registry-photon", "harbor-registryctl"} {
		if _, err := os.Stat(filepath.Join(dir, image, "config.json")); err != nil {
			testutil.Missing(t, "Harbor image %s in %s (run `make harbor-images`, or set HARBORHA_HARBOR_IMAGES)", image, dir)
		}
	}
	return dir
}

// pods are the rendered release's containers with their effective
// environment (the kubelet's expansion, by envexpand) and the ConfigMaps
// and Secrets their files come from.
type pods struct {
	containers map[string]*container // "deployment/container"
	configMaps map[string]corev1.ConfigMap
	secrets    map[string]corev1.Secret
}

type container struct {
	pods    *pods
	spec    corev1.Container
	volumes []corev1.Volume
	env     map[string]string
}

func readPods(t *testing.T, stream []byte, envexpand string) *pods {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	p := &pods{containers: map[string]*container{}, configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	var in struct {
		ConfigMaps []corev1.ConfigMap `json:"configMaps"`
		Secrets    []corev1.Secret    `json:"secrets"`
		Containers []corev1.Container `json:"containers"`
	}
	var keys []string
	for _, d := range docs {
		convert := func(into any) {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Obj.Object, into); err != nil {
				t.Fatalf("%s: %v", d.Describe(), err)
			}
		}
		switch d.ID().Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			convert(&cm)
			p.configMaps[cm.Name] = cm
			in.ConfigMaps = append(in.ConfigMaps, cm)
		case "Secret":
			var s corev1.Secret
			convert(&s)
			p.secrets[s.Name] = s
			in.Secrets = append(in.Secrets, s)
		case "Deployment":
			var dep appsv1.Deployment
			convert(&dep)
			for _, c := range dep.Spec.Template.Spec.Containers {
				key := d.Obj.GetName() + "/" + c.Name
				p.containers[key] = &container{pods: p, spec: c, volumes: dep.Spec.Template.Spec.Volumes}
				keys = append(keys, key)
				in.Containers = append(in.Containers, c)
			}
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Containers []struct {
			Env   map[string]string
			Error string
		}
	}
	if err := json.Unmarshal(testutil.Run(t, b, envexpand), &out); err != nil {
		t.Fatal(err)
	}
	for i, key := range keys {
		if out.Containers[i].Error != "" {
			t.Fatalf("container %s would not start: %s", key, out.Containers[i].Error)
		}
		p.containers[key].env = out.Containers[i].Env
	}
	return p
}

func (p *pods) container(t *testing.T, deployment, name string) *container {
	t.Helper()
	c := p.containers[deployment+"/"+name]
	if c == nil {
		t.Fatalf("the render has no container %s in Deployment %s", name, deployment)
	}
	return c
}

// file is the content the kubelet would mount at path: a ConfigMap or
// Secret volume, one key by subPath (or by items).
func (c *container) file(t *testing.T, path string) []byte {
	t.Helper()
	for _, m := range c.spec.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range c.volumes {
			if v.Name != m.Name {
				continue
			}
			var data map[string][]byte
			var items []corev1.KeyToPath
			switch {
			case v.ConfigMap != nil:
				data = map[string][]byte{}
				for k, s := range c.pods.configMaps[v.ConfigMap.Name].Data {
					data[k] = []byte(s)
				}
				items = v.ConfigMap.Items
			case v.Secret != nil:
				data = c.pods.secrets[v.Secret.SecretName].Data
				items = v.Secret.Items
			}
			key := m.SubPath
			for _, it := range items {
				if it.Path == m.SubPath {
					key = it.Key
				}
			}
			if b, ok := data[key]; ok {
				return b
			}
			t.Fatalf("volume %s mounted at %s: no key %q", v.Name, path, key)
		}
	}
	t.Fatalf("container %s mounts nothing at %s", c.spec.Name, path)
	return nil
}

// with is the container's environment with the addresses rewritten and
// the overrides set, as a process environment.
func (c *container) with(addresses *strings.Replacer, overrides map[string]string) []string {
	env := []string{}
	for k, v := range c.env {
		if o, ok := overrides[k]; ok {
			v = o
		}
		env = append(env, k+"="+addresses.Replace(v))
	}
	for k, v := range overrides {
		if _, ok := c.env[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// process is one Harbor binary run from its image's rootfs.
type process struct {
	name, dir, bin string
	args, env      []string
}

func (p *process) start(t *testing.T, a account, logDir string) *running {
	t.Helper()
	for _, kv := range p.env {
		if strings.Contains(kv, "://myharbor-") {
			t.Fatalf("%s: %s still names a Kubernetes Service", p.name, kv)
		}
	}
	c := a.command(p.bin, p.args...)
	c.Dir = p.dir
	c.Env = append(p.env, "PATH=/usr/bin:/bin")
	return start(t, p.name, c, logDir)
}

// running is a started process; done is closed when it has exited.
type running struct {
	name string
	done chan struct{}
	err  error
}

// start runs c with its output in <logDir>/<name>.log, shown when the test
// fails, and stops its process group at the end.
func start(t *testing.T, name string, c *exec.Cmd, logDir string) *running {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout, c.Stderr = log, log
	if err := c.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	r := &running{name: name, done: make(chan struct{})}
	go func() { r.err = c.Wait(); close(r.done) }()
	t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("last lines of %s's log:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return r
}

// waitFor polls ready until it succeeds, for up to three minutes (core
// migrates an empty database first; CI machines are shared), and fails
// as soon as one of the processes it depends on has exited.
func waitFor(t *testing.T, what string, procs []*running, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := ready()
		if err == nil {
			return
		}
		for _, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("%s: %s exited (%v)", what, p.name, p.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after 3 minutes: %v", what, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// get fetches url and fails on any status but 200; into, if not nil,
// receives the JSON body.
func get(url string, into any) error {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	if into != nil {
		return json.Unmarshal(body, into)
	}
	return nil
}

// healthy checks core's overall health report for the given components.
func healthy(coreURL string, components ...string) error {
	var h struct {
		Components []struct {
			Name, Status, Error string
		}
	}
	if err := get(coreURL+"/api/v2.0/health", &h); err != nil {
		return err
	}
	status := map[string]string{}
	for _, c := range h.Components {
		status[c.Name] = c.Status + " " + c.Error
	}
	for _, c := range components {
		if s := status[c]; !strings.HasPrefix(s, "healthy") {
			return fmt.Errorf("component %s: %q", c, s)
		}
	}
	return nil
}
