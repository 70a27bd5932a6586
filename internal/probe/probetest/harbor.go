// Package probetest is a stand-in for Harbor's HTTP surface in unit tests
// of the probe and of what drives it (doctor --drill): a real in-memory
// OCI registry (go-containerregistry's) behind Basic auth, the
// CSRF-guarded session login, one API path to read and one to write
// (a repository's description). The real Harbor is probed in the
// real-node tests.
package probetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// User is the one user the fake Harbor knows.
const User = "admin"

// csrfHeader is where Harbor's CSRF middleware hands out its token.
const csrfHeader = "X-Harbor-CSRF-Token"

// Harbor is the fake. Its switches may be flipped from any goroutine.
type Harbor struct {
	*httptest.Server
	Password string
	// Failing makes every request answer 500 (the answer quotes the
	// password: a client must not print it).
	Failing atomic.Bool
	// FailingWrites makes registry writes (PUT, POST, PATCH) and API
	// writes answer 500, as a database without a primary does; reads
	// still work.
	FailingWrites atomic.Bool
	// Descriptions counts the repository descriptions written;
	// RefusingDescriptions answers 403, as Harbor does to a user below
	// the maintainer role.
	Descriptions         atomic.Int64
	RefusingDescriptions atomic.Bool
	// Deleted counts the repositories deleted; RefusingDeletes answers
	// 412, as Harbor does to an image an immutability rule keeps.
	Deleted         atomic.Int64
	RefusingDeletes atomic.Bool
	// Corrupt alters blob downloads.
	Corrupt atomic.Bool
	// forgotten are manifests answered 404 (Forget); pushed the digests
	// of manifests written, in order.
	forgotten map[string]bool
	pushed    []string
	// Hits counts the requests seen.
	Hits     atomic.Int64
	mu       sync.Mutex
	sessions map[string]bool
}

// NewHarbor starts a fake Harbor whose admin has password; it stops with
// the test.
func NewHarbor(t testing.TB, password string) *Harbor {
	f := &Harbor{Password: password, sessions: map[string]bool{}, forgotten: map[string]bool{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	mux := http.NewServeMux()
	mux.HandleFunc("/c/login", f.login)
	mux.HandleFunc("/api/v2.0/projects/library", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil || !f.session(c.Value) {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"name":"library"}`))
	})
	mux.HandleFunc("PUT /api/v2.0/projects/library/repositories/{repo}", f.describe)
	mux.HandleFunc("DELETE /api/v2.0/projects/library/repositories/{repo}", f.deleteRepository)
	mux.Handle("/v2/", f.registry(reg))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Hits.Add(1)
		if f.Failing.Load() {
			http.Error(w, "injected fault, password "+f.Password, http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// Forget makes the manifest with digest unknown from now on, as Harbor
// answers when its database lost the artifact (a failover to a standby
// that never received it): 404 with Harbor's NOT_FOUND.
func (f *Harbor) Forget(digest string) {
	f.mu.Lock()
	f.forgotten[digest] = true
	f.mu.Unlock()
}

// ForgetLatest forgets the manifest written last and returns its digest
// ("" when none was).
func (f *Harbor) ForgetLatest() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushed) == 0 {
		return ""
	}
	d := f.pushed[len(f.pushed)-1]
	f.forgotten[d] = true
	return d
}

func (f *Harbor) forgot(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := strings.LastIndex(path, "/manifests/")
	return i >= 0 && f.forgotten[path[i+len("/manifests/"):]]
}

func (f *Harbor) session(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[id]
}

// sessionWrite checks what Harbor checks of a session that writes: its
// cookie and its CSRF token. On false it has answered.
func (f *Harbor) sessionWrite(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie("sid")
	switch {
	case err != nil || !f.session(c.Value):
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
	case r.Header.Get(csrfHeader) != "token-1":
		http.Error(w, `{"errors":[{"code":"FORBIDDEN","message":"CSRF token invalid"}]}`, http.StatusForbidden)
	default:
		return true
	}
	return false
}

// describe writes a repository's description as Harbor's API does: a
// JSON body, 200 without one.
func (f *Harbor) describe(w http.ResponseWriter, r *http.Request) {
	switch {
	case !f.sessionWrite(w, r):
	case f.RefusingDescriptions.Load():
		http.Error(w, `{"errors":[{"code":"FORBIDDEN","message":"forbidden"}]}`, http.StatusForbidden)
	case f.FailingWrites.Load():
		http.Error(w, "injected write fault", http.StatusInternalServerError)
	default:
		var body struct{ Description *string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Description == nil {
			http.Error(w, `{"errors":[{"code":"BAD_REQUEST"}]}`, http.StatusBadRequest)
			return
		}
		f.Descriptions.Add(1)
	}
}

// deleteRepository answers a session's DELETE of a repository as Harbor
// does, without deleting anything from the in-memory registry.
func (f *Harbor) deleteRepository(w http.ResponseWriter, r *http.Request) {
	switch {
	case !f.sessionWrite(w, r):
	case f.RefusingDeletes.Load():
		http.Error(w, `{"errors":[{"code":"PRECONDITION","message":"the operation isn't allowed by immutable rule"}]}`, http.StatusPreconditionFailed)
	default:
		f.Deleted.Add(1)
	}
}

func (f *Harbor) login(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.Header().Set(csrfHeader, "token-1")
		http.NotFound(w, r)
		return
	}
	if r.Header.Get(csrfHeader) != "token-1" {
		http.Error(w, "CSRF token invalid", http.StatusForbidden)
		return
	}
	if r.FormValue("principal") != User || r.FormValue("password") != f.Password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.sessions["s1"] = true
	f.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s1", Path: "/"})
}

func (f *Harbor) registry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != User || p != f.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="harbor"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if f.FailingWrites.Load() && r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "injected write fault", http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			f.mu.Lock()
			f.pushed = append(f.pushed, fmt.Sprintf("sha256:%x", sha256.Sum256(body)))
			f.mu.Unlock()
		}
		if f.forgot(r.URL.Path) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errors":[{"code":"NOT_FOUND","message":"artifact not found"}]}`))
			return
		}
		if f.Corrupt.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			b := rec.Body.Bytes()
			if len(b) > 0 {
				b[len(b)/2] ^= 0xff
			}
			w.WriteHeader(rec.Code)
			w.Write(b)
			return
		}
		next.ServeHTTP(w, r)
	})
}
