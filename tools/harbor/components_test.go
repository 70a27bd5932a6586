package harbor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// harborImages are the images this test runs: all eight.
var harborImages = []string{"nginx-photon", "harbor-portal", "harbor-core", "harbor-jobservice", "registry-photon", "harbor-registryctl", "trivy-adapter-photon", "harbor-exporter"}

// harborUID is the chart's runAsUser and fsGroup.
const harborUID = 10000

// harbor is a running Harbor: one process per container of the chart's
// pods, each listening on its own loopback port where the pod would
// listen on 8080.
type harbor struct {
	t        *testing.T
	images   string
	work     string // configuration files and data, owned by uid 10000
	port     map[string]int
	rendered *pods
	redis    redis
	procs    []*running
}

func (h *harbor) host(c string) string { return "127.0.0.1:" + strconv.Itoa(h.port[c]) }
func (h *harbor) url(c string) string  { return "http://" + h.host(c) }

// rootfs is a path inside an image's root filesystem.
func (h *harbor) rootfs(image, path string) string {
	return filepath.Join(h.images, image, "rootfs", path)
}

// write puts a file under the work directory and returns its path.
func (h *harbor) write(rel string, data []byte) string {
	p := filepath.Join(h.work, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// mkdir is a directory under the work directory that uid 10000 may write.
func (h *harbor) mkdir(rel string) string {
	p := filepath.Join(h.work, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(p, harborUID, harborUID); err != nil {
			h.t.Fatal(err)
		}
	}
	return p
}

// startHarbor starts PostgreSQL and Redis, renders the chart for them and
// starts every component from its image.
func startHarbor(t *testing.T) *harbor {
	pg := startPostgres(t)
	h := renderHarbor(t, pg.port, "")
	harborUser := accountFor(t, harborUID, harborUID)
	for _, p := range []*process{h.registry(), h.registryctl(), h.core(), h.portal(), h.nginx(), h.trivy()} {
		h.procs = append(h.procs, p.start(t, harborUser, h.work))
	}
	began := time.Now()
	waitFor(t, "core /api/v2.0/ping", h.procs, func() error { return get(h.url("core")+"/api/v2.0/ping", nil) })
	t.Logf("core answers %.1f s after start (migrations of an empty database included)", time.Since(began).Seconds())
	// jobservice loads its configuration (the database's too) from core
	// and exits when core does not answer yet: the kubelet would restart it.
	h.procs = append(h.procs, h.jobservice().start(t, harborUser, h.work), h.exporter().start(t, harborUser, h.work))
	waitFor(t, "core /api/v2.0/health: every component healthy", h.procs, func() error {
		return healthy(h.url("core"), "core", "database", "redis", "registry", "registryctl", "jobservice", "portal", "trivy")
	})
	return h
}

// renderHarbor starts Redis and renders the chart for it and the database
// on dbPort, with redisUser (if not empty) as the Redis user: the chart's
// redis.external.username, which then logs in with redisPassword.
func renderHarbor(t *testing.T, dbPort int, redisUser string) *harbor {
	images := imagesDir(t)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	envexpand := testutil.Tool(t, "HARBORHA_ENVEXPAND", "k8s/envexpand")
	h := &harbor{t: t, images: images, redis: startRedis(t), port: map[string]int{}}
	for _, c := range []string{"nginx", "portal", "core", "core-metrics", "jobservice", "jobservice-metrics", "registry", "registry-debug", "registryctl", "trivy", "exporter"} {
		h.port[c] = freePort(t)
	}
	// The chart's own generated secrets, not testutil's pinned ones: the
	// pinned token key is PKCS#8 ("PRIVATE KEY"), which Harbor's token
	// service refuses (docker/libtrust UnmarshalPrivateKeyPEM takes only
	// "RSA PRIVATE KEY" and "EC PRIVATE KEY"): every login fails with 500.
	stream := testutil.Run(t, nil, testutil.Helm3(t), "template", "myharbor", chart, "--namespace", "harbor",
		"--kube-version", testutil.KubeVersion, "--set", strings.Join([]string{
			"externalURL=" + h.url("nginx"),
			"expose.type=clusterIP", "expose.tls.enabled=false", "metrics.enabled=true",
			"database.type=external", "database.external.host=127.0.0.1", "database.external.port=" + strconv.Itoa(dbPort),
			"database.external.username=harbor", "database.external.password=" + dbPassword, "database.external.coreDatabase=registry",
			"redis.type=external", "redis.external.addr=127.0.0.1:" + strconv.Itoa(h.redis.port),
			"redis.external.username=" + redisUser, "redis.external.password=" + redisPassword,
		}, ","))
	h.rendered = readPods(t, stream, envexpand)
	h.work = accountFor(t, harborUID, harborUID).dir(t, "harborha-harbor-")
	return h
}

// addresses points the chart's Service URLs at the processes.
func (h *harbor) addresses() *strings.Replacer {
	return strings.NewReplacer(
		"http://myharbor-core:80", h.url("core"),
		"http://127.0.0.1:8080", h.url("core"), // core's CORE_LOCAL_URL
		"http://myharbor-jobservice", h.url("jobservice"),
		"http://myharbor-registry:5000", h.url("registry"),
		"http://myharbor-registry:8080", h.url("registryctl"),
		"http://myharbor-portal", h.url("portal"),
		"http://myharbor-trivy:8080", h.url("trivy"),
	)
}

// The components: each runs its image's entrypoint command (the script
// itself needs the image's paths: it runs only in a container) with the
// container's environment and mounted files, the paths a pod would
// mount pointed at the work directory.

func (h *harbor) registry() *process {
	c := h.rendered.container(h.t, "myharbor-registry", "registry")
	config := h.write("registry/config.yml", c.file(h.t, "/etc/registry/config.yml"))
	// distribution overrides any config field from REGISTRY_<PATH>.
	env := map[string]string{
		"REGISTRY_HTTP_ADDR":                        h.host("registry"),
		"REGISTRY_HTTP_DEBUG_ADDR":                  h.host("registry-debug"),
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": h.mkdir("storage"),
		"REGISTRY_AUTH_HTPASSWD_PATH":               h.write("registry/passwd", c.file(h.t, "/etc/registry/passwd")),
	}
	return &process{name: "registry", bin: h.rootfs("registry-photon", "/usr/bin/registry_DO_NOT_USE_GC"),
		args: []string{"serve", config}, env: c.with(h.addresses(), env)}
}

func (h *harbor) registryctl() *process {
	c := h.rendered.container(h.t, "myharbor-registry", "registryctl")
	env := map[string]string{
		"PORT":            strconv.Itoa(h.port["registryctl"]),
		"REGISTRY_CONFIG": filepath.Join(h.work, "registry/config.yml"),
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": h.mkdir("storage"),
	}
	return &process{name: "registryctl", bin: h.rootfs("harbor-registryctl", "/home/harbor/harbor_registryctl"),
		args: []string{"-c", h.write("registryctl/config.yml", c.file(h.t, "/etc/registryctl/config.yml"))},
		env:  c.with(h.addresses(), env)}
}

func (h *harbor) core() *process {
	c := h.rendered.container(h.t, "myharbor-core", "core")
	appConf := strings.Replace(string(c.file(h.t, "/etc/core/app.conf")), "httpport = 8080", "httpport = "+strconv.Itoa(h.port["core"]), 1)
	env := map[string]string{
		"CONFIG_PATH":            h.write("core/app.conf", []byte(appConf)),
		"KEY_PATH":               h.write("core/key", c.file(h.t, "/etc/core/key")),
		"TOKEN_PRIVATE_KEY_PATH": h.write("core/private_key.pem", c.file(h.t, "/etc/core/private_key.pem")),
		"PORT":                   strconv.Itoa(h.port["core"]),
		"METRIC_PORT":            strconv.Itoa(h.port["core-metrics"]),
	}
	// Started in /harbor, beside views/, migrations/ and icons/.
	return &process{name: "core", dir: h.rootfs("harbor-core", "/harbor"), bin: h.rootfs("harbor-core", "/harbor/harbor_core"),
		env: c.with(h.addresses(), env)}
}

func (h *harbor) jobservice() *process {
	c := h.rendered.container(h.t, "myharbor-jobservice", "jobservice")
	config := strings.NewReplacer(
		`"/var/log/jobs"`, strconv.Quote(h.mkdir("job-logs")),
		"port: 8001", "port: "+strconv.Itoa(h.port["jobservice-metrics"]),
	).Replace(string(c.file(h.t, "/etc/jobservice/config.yml")))
	env := map[string]string{"JOB_SERVICE_PORT": strconv.Itoa(h.port["jobservice"])}
	return &process{name: "jobservice", dir: h.rootfs("harbor-jobservice", "/harbor"), bin: h.rootfs("harbor-jobservice", "/harbor/harbor_jobservice"),
		args: []string{"-c", h.write("jobservice/config.yml", []byte(config))}, env: c.with(h.addresses(), env)}
}

func (h *harbor) exporter() *process {
	c := h.rendered.container(h.t, "myharbor-exporter", "exporter")
	env := map[string]string{
		"HARBOR_EXPORTER_PORT": strconv.Itoa(h.port["exporter"]),
		"HARBOR_SERVICE_HOST":  "127.0.0.1",
		"HARBOR_SERVICE_PORT":  strconv.Itoa(h.port["core"]),
	}
	// entrypoint.sh runs it without the chart's args (-log-level).
	return &process{name: "exporter", dir: h.rootfs("harbor-exporter", "/harbor"), bin: h.rootfs("harbor-exporter", "/harbor/harbor_exporter"),
		env: c.with(h.addresses(), env)}
}

func (h *harbor) trivy() *process {
	c := h.rendered.container(h.t, "myharbor-trivy", "trivy")
	env := map[string]string{
		"SCANNER_API_SERVER_ADDR":   h.host("trivy"),
		"SCANNER_TRIVY_CACHE_DIR":   h.mkdir("trivy/cache"),
		"SCANNER_TRIVY_REPORTS_DIR": h.mkdir("trivy/reports"),
	}
	return &process{name: "trivy-adapter", bin: h.rootfs("trivy-adapter-photon", "/home/scanner/bin/scanner-trivy"),
		env: c.with(h.addresses(), env)}
}

// nginx and the portal: Debian's nginx from the image, started with the
// image's own dynamic loader and libraries, on the chart's nginx.conf.
// What the image's filesystem provides (the html and mime.types, the log
// links to stdout, /tmp) is pointed at the rootfs and work directory.

func (h *harbor) nginx() *process {
	c := h.rendered.container(h.t, "myharbor-nginx", "nginx")
	return h.nginxProcess("nginx", "nginx-photon", string(c.file(h.t, "/etc/nginx/nginx.conf")),
		`server "myharbor-core:80";`, `server "`+h.host("core")+`";`,
		`server myharbor-portal:80;`, `server `+h.host("portal")+`;`)
}

func (h *harbor) portal() *process {
	c := h.rendered.container(h.t, "myharbor-portal", "portal")
	return h.nginxProcess("portal", "harbor-portal", string(c.file(h.t, "/etc/nginx/nginx.conf")),
		"/usr/share/nginx/html", h.rootfs("harbor-portal", "/usr/share/nginx/html"),
		"/etc/nginx/mime.types", h.rootfs("harbor-portal", "/etc/nginx/mime.types"),
		"http {", "http {\n    access_log /dev/stdout;") // the image links its default log there
}

// nginxProcess runs the image's nginx on conf, its listen address and
// /tmp moved, with the old/new pairs replaced too: in one pass over the
// chart's text, so that a path put in (a checkout under /tmp) is not
// rewritten again.
func (h *harbor) nginxProcess(name, image, conf string, pairs ...string) *process {
	tmp := h.mkdir(name + "/tmp")
	conf = strings.NewReplacer(append([]string{
		"listen 8080;", "listen " + h.host(name) + ";",
		"listen [::]:8080;", "",
		"/tmp/", tmp + "/",
	}, pairs...)...).Replace(conf)
	loader, _ := filepath.Glob(h.rootfs(image, "/lib64/ld-linux-*.so.2"))
	if len(loader) != 1 {
		h.t.Fatalf("image %s: no dynamic loader in /lib64", image)
	}
	return &process{name: name, bin: loader[0], args: []string{
		"--library-path", h.rootfs(image, "/lib/x86_64-linux-gnu"), h.rootfs(image, "/usr/sbin/nginx"),
		"-e", "stderr", "-c", h.write(name+"/nginx.conf", []byte(conf)), "-g", "daemon off;",
	}}
}
