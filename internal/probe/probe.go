// Package probe is a client of a running Harbor that does what its users
// do — log in, push an image, pull it back, call the API — in a loop, and
// records every request: the measure of availability under a fault
// (`doctor --drill`, the real-node tests). Nothing is retried: a request
// that fails is counted as a user without retries would see it.
package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Kind is what a request did.
type Kind string

// Kinds of requests, as the drill report counts them.
const (
	Login Kind = "login" // a UI session: CSRF token, then /c/login
	Push  Kind = "push"  // a new random image, every blob and the manifest
	Pull  Kind = "pull"  // an image pushed earlier: manifest and blobs, digests compared
	API   Kind = "api"   // an API call on the session (reads the database)
	// Write is a small write through the API on the session: the
	// repository's description, as the portal edits it. One UPDATE in
	// Harbor's database, tens of milliseconds where a push takes about a
	// second: the probe's measure of when writes are back.
	Write Kind = "write"
)

// Kinds in report order.
var Kinds = []Kind{Push, Pull, API, Write, Login}

// Writes reports whether a request of kind k writes Harbor's database:
// a push (its artifact, tag and blobs) or an API write.
func (k Kind) Writes() bool { return k == Push || k == Write }

// Target is the Harbor to probe.
type Target struct {
	// URL is Harbor's external URL (http or https), as clients reach it.
	URL      string
	Username string
	Password string // never printed
	// Project is where images are pushed; it must exist ("library" does
	// in every Harbor).
	Project string
	// Repository under Project (default DefaultRepository).
	Repository string
	// Insecure accepts a self-signed certificate.
	Insecure bool
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// ImageSize is each random image's layer size in bytes (default 4 KiB).
	ImageSize int64
}

// DefaultRepository is where the probe pushes, under Target.Project.
const DefaultRepository = "harborha-probe"

// Request is one request's outcome. Err is "" on success.
type Request struct {
	Kind     Kind          `json:"kind"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Err      string        `json:"error,omitempty"`
	// Digest is the image pushed or pulled (and compared), when known.
	Digest string `json:"digest,omitempty"`
	// Unknown: a pull answered 404, the image unknown to Harbor. Every
	// image pulled was pushed and acknowledged first, so it is either
	// not visible yet or gone (Gone tells which).
	Unknown bool `json:"unknown,omitempty"`
}

// Failed reports whether the request failed.
func (r Request) Failed() bool { return r.Err != "" }

// Probe is a logged-in client of one Harbor. Its methods may be called
// from several goroutines.
type Probe struct {
	t       Target
	host    string // registry host[:port] of URL
	repo    name.Repository
	web     *http.Client // API and session, with a cookie jar
	reg     []remote.Option
	mu      sync.Mutex
	pushed  []name.Digest // images pushed and not yet pulled back
	all     []name.Digest
	counter int
	writes  int
	csrf    string // the session's CSRF token, for its API writes
}

// ErrRefused is returned by New when Harbor refuses the credentials.
var ErrRefused = errors.New("Harbor refused the credentials")

// New checks the target and logs in (a UI session, whose cookie the API
// calls carry: a session lost with Redis shows as a failed API call).
func New(ctx context.Context, t Target) (*Probe, error) {
	if t.Project == "" {
		t.Project = "library"
	}
	if t.Repository == "" {
		t.Repository = DefaultRepository
	}
	if t.Timeout == 0 {
		t.Timeout = 10 * time.Second
	}
	if t.ImageSize == 0 {
		t.ImageSize = 4 << 10
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("Harbor URL %q is not an http(s) URL such as http://10.0.0.1:30002", t.URL)
	}
	if t.Username == "" || t.Password == "" {
		return nil, errors.New("no Harbor credentials: give a username and a password")
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(u.Host+"/"+t.Project+"/"+t.Repository, opts...)
	if err != nil {
		return nil, fmt.Errorf("project %q / repository %q: %v", t.Project, t.Repository, err)
	}
	p := &Probe{t: t, host: u.Host, repo: repo}
	p.web, p.reg = clients(t)
	if r := p.login(ctx); r.Failed() {
		if strings.Contains(r.Err, "401") {
			return nil, fmt.Errorf("%w (user %q at %s): check the username and password", ErrRefused, t.Username, t.URL)
		}
		return nil, fmt.Errorf("logging in to Harbor at %s: %s", t.URL, r.Err)
	}
	return p, nil
}

// clients are the API client (its own cookie jar, no retries, no
// redirects) and the registry options (Basic credentials exchanged for a
// token by Harbor's token service, no retries at any layer).
func clients(t Target) (*http.Client, []remote.Option) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t.Insecure {
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Transport: tr, Jar: jar, Timeout: t.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	never := func(error) bool { return false }
	reg := []remote.Option{
		remote.WithTransport(tr),
		remote.WithAuth(&authn.Basic{Username: t.Username, Password: t.Password}),
		remote.WithRetryPredicate(never),
		remote.WithRetryStatusCodes(),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithJobs(1),
	}
	return web, reg
}

// Round is one of each: push a new image, pull back one pushed earlier
// (the oldest not yet pulled, else any), call the API.
func (p *Probe) Round(ctx context.Context) []Request {
	return []Request{p.Push(ctx), p.Pull(ctx), p.API(ctx)}
}

// Push writes a new random image under a fresh tag.
func (p *Probe) Push(ctx context.Context) Request {
	return p.timed(ctx, Push, func(ctx context.Context) (string, error) {
		img, err := random.Image(p.t.ImageSize, 1)
		if err != nil {
			return "", err
		}
		d, err := img.Digest()
		if err != nil {
			return "", err
		}
		tag := p.repo.Tag(p.nextTag())
		if err := remote.Write(tag, img, append(p.reg, remote.WithContext(ctx))...); err != nil {
			return d.String(), err
		}
		p.mu.Lock()
		ref := p.repo.Digest(d.String())
		p.pushed = append(p.pushed, ref)
		p.all = append(p.all, ref)
		p.mu.Unlock()
		return d.String(), nil
	})
}

// Pull reads an image pushed earlier, every blob of it, and checks that
// the manifest and each layer have the digests they were pushed with.
func (p *Probe) Pull(ctx context.Context) Request {
	ref, ok := p.nextPull()
	if !ok {
		return Request{Kind: Pull, Start: time.Now(), Err: "nothing pushed yet to pull back"}
	}
	return p.pull(ctx, ref)
}

// PullDigest reads the image of the probe's repository with that digest
// (pushed by another probe, or before a fault) and checks it as Pull does.
func (p *Probe) PullDigest(ctx context.Context, digest string) Request {
	return p.pull(ctx, p.repo.Digest(digest))
}

func (p *Probe) pull(ctx context.Context, ref name.Digest) Request {
	var unknown bool
	r := p.timed(ctx, Pull, func(ctx context.Context) (string, error) {
		img, err := remote.Image(ref, append(p.reg, remote.WithContext(ctx))...)
		if err == nil {
			err = verify(img, ref.DigestStr())
		}
		unknown = notFound(err)
		return ref.DigestStr(), err
	})
	r.Unknown = unknown
	return r
}

// notFound: the registry answered 404 (MANIFEST_UNKNOWN, Harbor's
// NOT_FOUND, BLOB_UNKNOWN).
func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// Gone pulls each digest again and returns those still unknown to
// Harbor: images it acknowledged and no longer has. A digest that pulls,
// or fails otherwise, is not gone.
func (p *Probe) Gone(ctx context.Context, digests []string) []string {
	var gone []string
	for _, d := range digests {
		if r := p.PullDigest(ctx, d); r.Unknown {
			gone = append(gone, d)
		}
	}
	return gone
}

// verify reads every layer through its digest check and compares the
// manifest's digest with the one pushed.
func verify(img v1.Image, want string) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if d.String() != want {
		return fmt.Errorf("pulled digest %s, pushed %s", d, want)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the blob's digest as it is read
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// API reads the project through the session: core, the database and the
// session store (Redis) must all answer.
func (p *Probe) API(ctx context.Context) Request {
	return p.timed(ctx, API, func(ctx context.Context) (string, error) {
		return "", p.get(ctx, "/api/v2.0/projects/"+url.PathEscape(p.t.Project), http.StatusOK)
	})
}

// Write sets the description of the probe's repository through the
// session, as the portal does (Harbor checks the CSRF token of a session
// that writes). The repository exists once the probe has pushed.
func (p *Probe) Write(ctx context.Context) Request {
	p.mu.Lock()
	pushed, token := len(p.all) > 0, p.csrf
	p.writes++
	desc := fmt.Sprintf(`{"description":"written by the harborha probe, write %d"}`, p.writes)
	p.mu.Unlock()
	if !pushed {
		return Request{Kind: Write, Start: time.Now(), Err: "nothing pushed yet: the repository to write does not exist"}
	}
	return p.timed(ctx, Write, func(ctx context.Context) (string, error) {
		req, err := p.request(ctx, http.MethodPut, p.repositoryPath(), strings.NewReader(desc))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(csrfHeader, token)
		return "", p.do(req, http.StatusOK)
	})
}

// DeleteRepository deletes the probe's repository, every image in it,
// through the session; one already gone is no error.
func (p *Probe) DeleteRepository(ctx context.Context) error {
	p.mu.Lock()
	token := p.csrf
	p.mu.Unlock()
	req, err := p.request(ctx, http.MethodDelete, p.repositoryPath(), nil)
	if err != nil {
		return err
	}
	req.Header.Set(csrfHeader, token)
	var se *statusError
	switch err := p.do(req, http.StatusOK); {
	case errors.As(err, &se) && se.code == http.StatusNotFound:
		return nil
	case err != nil:
		return errors.New(oneLine(p.redact(err.Error())))
	}
	return nil
}

// repositoryPath is the API's path of the probe's repository (Harbor
// wants a slash in a repository name encoded twice).
func (p *Probe) repositoryPath() string {
	return "/api/v2.0/projects/" + url.PathEscape(p.t.Project) + "/repositories/" + url.PathEscape(url.PathEscape(p.t.Repository))
}

// Repository is the probe's repository, project/name.
func (p *Probe) Repository() string { return p.t.Project + "/" + p.t.Repository }

// Project is where the probe pushes and writes.
func (p *Probe) Project() string { return p.t.Project }

// Digests are the images pushed so far, oldest first.
func (p *Probe) Digests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.all))
	for i, d := range p.all {
		out[i] = d.DigestStr()
	}
	return out
}

func (p *Probe) nextTag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counter++
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("probe-%d-%s", p.counter, hex.EncodeToString(b[:]))
}

func (p *Probe) nextPull() (name.Digest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case len(p.pushed) > 0:
		ref := p.pushed[0]
		p.pushed = p.pushed[1:]
		return ref, true
	case len(p.all) > 0:
		return p.all[(p.counter*7)%len(p.all)], true
	}
	return name.Digest{}, false
}

// timed runs one request under the per-request timeout and records it.
func (p *Probe) timed(ctx context.Context, k Kind, f func(context.Context) (string, error)) Request {
	ctx, cancel := context.WithTimeout(ctx, p.t.Timeout)
	defer cancel()
	r := Request{Kind: k, Start: time.Now()}
	d, err := f(ctx)
	r.Duration, r.Digest = time.Since(r.Start), d
	if err != nil {
		r.Err = oneLine(p.redact(err.Error()))
	}
	return r
}

// redact keeps the password out of an error that quotes a request.
func (p *Probe) redact(s string) string {
	if p.t.Password == "" {
		return s
	}
	return strings.ReplaceAll(s, p.t.Password, "<redacted>")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
