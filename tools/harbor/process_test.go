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
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is one binary run from its image's rootfs; dir is its working
// directory (the image's WORKDIR, "/" when empty).
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
	if c.Dir == "" {
		c.Dir = "/"
	}
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
	// Owned by the process's user, as runc hands a container its stdio:
	// nginx reopens /dev/stdout.
	if cred := c.SysProcAttr.Credential; cred != nil {
		if err := log.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
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

// fetch is the body of a GET that answers 200.
func fetch(url string) ([]byte, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// get fetches url; into, if not nil, receives the JSON body.
func get(url string, into any) error {
	body, err := fetch(url)
	if err != nil || into == nil {
		return err
	}
	return json.Unmarshal(body, into)
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
