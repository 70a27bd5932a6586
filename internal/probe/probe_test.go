package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/probe/probetest"
)

func newProbe(t *testing.T, f *probetest.Harbor) *Probe {
	t.Helper()
	p, err := New(context.Background(), Target{URL: f.URL, Username: probetest.User, Password: f.Password, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestRoundPushesPullsAndReads(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	for i := range 3 {
		for _, r := range p.Round(context.Background()) {
			if r.Failed() {
				t.Fatalf("round %d: %s failed: %s", i, r.Kind, r.Err)
			}
			if (r.Kind == Push || r.Kind == Pull) && !strings.HasPrefix(r.Digest, "sha256:") {
				t.Errorf("round %d: %s has no digest: %q", i, r.Kind, r.Digest)
			}
		}
	}
	if d := p.Digests(); len(d) != 3 || d[0] == d[1] {
		t.Errorf("three rounds pushed %d images, want 3 distinct: %v", len(d), d)
	}
}

func TestPullChecksTheBlobs(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	if r := p.Push(context.Background()); r.Failed() {
		t.Fatal(r.Err)
	}
	f.Corrupt.Store(true)
	r := p.Pull(context.Background())
	if !r.Failed() {
		t.Fatal("a pull whose blob was altered in transit succeeded")
	}
}

// PullDigest reads an image another probe pushed (the same repository),
// and fails for a digest that is not there.
func TestPullDigest(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	pusher, puller := newProbe(t, f), newProbe(t, f)
	push := pusher.Push(context.Background())
	if push.Failed() {
		t.Fatal(push.Err)
	}
	if r := puller.PullDigest(context.Background(), push.Digest); r.Failed() || r.Digest != push.Digest || r.Kind != Pull {
		t.Errorf("PullDigest(%s): %+v", push.Digest, r)
	}
	missing := "sha256:" + strings.Repeat("0", 64)
	if r := puller.PullDigest(context.Background(), missing); !r.Failed() {
		t.Errorf("PullDigest of an image never pushed succeeded")
	}
}

// A pull answered 404 is Unknown (other failures are not), and Gone
// names the images still unknown when pulled again: the acknowledged
// pushes Harbor lost.
func TestUnknownAndGone(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	ctx := context.Background()
	kept, lost := p.Push(ctx), p.Push(ctx)
	if kept.Failed() || lost.Failed() {
		t.Fatal(kept.Err, lost.Err)
	}
	f.Forget(lost.Digest)
	if r := p.PullDigest(ctx, lost.Digest); !r.Failed() || !r.Unknown || !strings.Contains(r.Err, "NOT_FOUND") {
		t.Errorf("pull of a forgotten image: %+v, want failed and unknown", r)
	}
	if r := p.PullDigest(ctx, kept.Digest); r.Failed() || r.Unknown {
		t.Errorf("pull of a kept image: %+v", r)
	}
	f.Corrupt.Store(true)
	if r := p.PullDigest(ctx, kept.Digest); !r.Failed() || r.Unknown {
		t.Errorf("a corrupt blob is a failure, not an unknown image: %+v", r)
	}
	f.Corrupt.Store(false)
	f.Failing.Store(true)
	if r := p.PullDigest(ctx, kept.Digest); !r.Failed() || r.Unknown {
		t.Errorf("a 500 is a failure, not an unknown image: %+v", r)
	}
	if got := p.Gone(ctx, []string{kept.Digest, lost.Digest}); len(got) != 0 {
		t.Errorf("Gone while Harbor answers 500: %v, want none (a failure is not a loss)", got)
	}
	f.Failing.Store(false)
	if got := p.Gone(ctx, []string{kept.Digest, lost.Digest}); len(got) != 1 || got[0] != lost.Digest {
		t.Errorf("Gone = %v, want [%s]", got, lost.Digest)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	for _, tc := range []struct {
		name   string
		target Target
		want   string
	}{
		{"no scheme", Target{URL: "harbor.local", Username: "admin", Password: "x"}, `"harbor.local" is not an http(s) URL`},
		{"ftp", Target{URL: "ftp://h", Username: "admin", Password: "x"}, "is not an http(s) URL"},
		{"no password", Target{URL: f.URL, Username: "admin"}, "no Harbor credentials"},
		{"wrong password", Target{URL: f.URL, Username: "admin", Password: "wrong-password"}, "Harbor refused the credentials"},
		{"not harbor", Target{URL: "http://127.0.0.1:1", Username: "admin", Password: "x"}, "logging in to Harbor at http://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), tc.target)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if tc.name == "wrong password" && !errors.Is(err, ErrRefused) {
				t.Errorf("refused credentials are not ErrRefused: %v", err)
			}
		})
	}
}

// Write sets the repository's description through the session, with its
// CSRF token; before a push there is no repository to write.
func TestWrite(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	if r := p.Write(context.Background()); !r.Failed() || !strings.Contains(r.Err, "nothing pushed yet") {
		t.Fatalf("a write before any push: %+v, want a failure saying nothing was pushed", r)
	}
	if r := p.Push(context.Background()); r.Failed() {
		t.Fatal(r.Err)
	}
	for i := range 2 {
		if r := p.Write(context.Background()); r.Failed() || r.Kind != Write {
			t.Fatalf("write %d: %+v", i, r)
		}
	}
	if n := f.Descriptions.Load(); n != 2 {
		t.Errorf("Harbor saw %d descriptions written, want 2", n)
	}
	f.FailingWrites.Store(true)
	if r := p.Write(context.Background()); !r.Failed() || !strings.Contains(r.Err, "HTTP 500") {
		t.Errorf("a write while writes fail: %+v", r)
	}
	// A session that never logged in has no CSRF token: Harbor refuses.
	f.FailingWrites.Store(false)
	p.mu.Lock()
	p.csrf = ""
	p.mu.Unlock()
	if r := p.Write(context.Background()); !r.Failed() || !strings.Contains(r.Err, "403") {
		t.Errorf("a write without the CSRF token: %+v, want 403", r)
	}
}

// DeleteRepository deletes through the session; a repository already
// gone is no error, a refusal is one line without the password.
func TestDeleteRepository(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	if err := p.DeleteRepository(context.Background()); err != nil || f.Deleted.Load() != 1 {
		t.Fatalf("delete: %v, %d deleted", err, f.Deleted.Load())
	}
	f.RefusingDeletes.Store(true)
	err := p.DeleteRepository(context.Background())
	if err == nil || !strings.Contains(err.Error(), "DELETE /api/v2.0/projects/library/repositories/harborha-probe: HTTP 412") || strings.Contains(err.Error(), f.Password) {
		t.Errorf("a refused delete: %v", err)
	}
	gone, err := New(context.Background(), Target{URL: f.URL, Username: probetest.User, Password: f.Password, Project: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.DeleteRepository(context.Background()); err != nil {
		t.Errorf("a repository Harbor does not know (404): %v", err)
	}
}

func TestKindWrites(t *testing.T) {
	for k, want := range map[Kind]bool{Push: true, Write: true, Pull: false, API: false, Login: false} {
		if k.Writes() != want {
			t.Errorf("%s.Writes() = %v", k, !want)
		}
	}
}

// A failed request is made once: the probe counts what a client without
// retries sees, so the server sees one request per failed operation.
func TestFailuresAreNotRetried(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	if r := p.Push(context.Background()); r.Failed() {
		t.Fatal(r.Err)
	}
	f.Failing.Store(true)
	before := f.Hits.Load()
	reqs := p.Round(context.Background())
	for _, r := range reqs {
		if !r.Failed() {
			t.Errorf("%s succeeded during the fault", r.Kind)
		}
		if strings.Contains(r.Err, f.Password) {
			t.Errorf("%s's error shows the password: %s", r.Kind, r.Err)
		}
	}
	if got := f.Hits.Load() - before; got != int64(len(reqs)) {
		t.Errorf("server saw %d requests for %d failed operations: something retried", got, len(reqs))
	}
}

// The loop under a fault window: failures are counted and writes come back.
func TestLoopCountsAFault(t *testing.T) {
	f := probetest.NewHarbor(t, "s3cret-Passw0rd")
	p := newProbe(t, f)
	var rec Recorder
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Loop(ctx, Load{Workers: 2, Pause: 5 * time.Millisecond, WriteEvery: 5 * time.Millisecond}, &rec)
		close(done)
	}()
	waitFor(t, &rec, time.Time{}, false)
	fault := time.Now()
	f.Failing.Store(true)
	waitFor(t, &rec, fault, true)
	cleared := time.Now()
	f.Failing.Store(false)
	waitFor(t, &rec, cleared, false)
	cancel()
	<-done
	fig := Summarize(rec.Requests(), fault)
	if fig.FailedRequests == 0 || fig.ByKind[Push].Failed == 0 || fig.ByKind[Write].Failed == 0 {
		t.Fatalf("a 100 ms fault cost nothing: %+v", fig)
	}
	if lasted := cleared.Sub(fault).Seconds(); fig.RecoveredSeconds < lasted || fig.RecoveredSeconds > lasted+5 {
		t.Errorf("recovered %.3f s after the fault, which lasted %.3f s", fig.RecoveredSeconds, lasted)
	}
	if fig.DigestsChecked == 0 || fig.Requests <= fig.FailedRequests {
		t.Errorf("no successful pull around the fault: %+v", fig)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	req := func(k Kind, ms int, err string) Request {
		return Request{Kind: k, Start: at(ms), Duration: 10 * time.Millisecond, Err: err}
	}
	for _, tc := range []struct {
		name      string
		reqs      []Request
		failed    int
		run       int
		recovered float64
		checked   int
	}{
		{"nothing failed", []Request{req(Push, 0, ""), req(Pull, 20, ""), req(API, 40, "")}, 0, 0, 0, 1},
		{"writes back", []Request{req(Push, 0, ""), req(Push, 1000, "HTTP 500"), req(API, 1020, "HTTP 500"), req(Pull, 1040, ""), req(Push, 2000, "")}, 2, 2, 1.01, 1},
		{"writes never back", []Request{req(Push, 1000, "EOF"), req(Push, 2000, "EOF")}, 2, 2, -1, 0},
		{"a failed push before the fault is not the fault's", []Request{req(Push, 500, "EOF"), req(Push, 1500, "")}, 1, 1, 0, 0},
		{"an API write is back before a push", []Request{req(Write, 1000, "HTTP 500"), {Kind: Push, Start: at(1100), Duration: time.Second}, req(Write, 1200, "")}, 1, 1, 0.21, 0},
		{"a failed API write is a failed write", []Request{req(Push, 1000, ""), req(Write, 1100, "HTTP 500"), req(Push, 1500, "")}, 1, 1, 0.51, 0},
		{"a push in flight at the fault that failed is the fault's", []Request{{Kind: Push, Start: at(500), Duration: time.Second, Err: "HTTP 500"}, req(Write, 1000, ""), req(Write, 1600, "")}, 1, 1, 0.61, 0},
		{"a write held through the failures counts when it ends after them", []Request{req(Push, 1000, "HTTP 500"), {Kind: Write, Start: at(900), Duration: 300 * time.Millisecond}}, 1, 1, 0.2, 0},
		{"runs are broken by a success", []Request{req(API, 1000, "x"), req(Pull, 1100, ""), req(API, 1200, "x"), req(API, 1300, "y"), req(API, 1400, "y")}, 4, 3, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Summarize(tc.reqs, at(1000))
			if f.Requests != len(tc.reqs) || f.FailedRequests != tc.failed || f.LongestFailureRun != tc.run ||
				f.RecoveredSeconds != tc.recovered || f.DigestsChecked != tc.checked {
				t.Errorf("got requests %d failed %d run %d recovered %v checked %d; want %d %d %d %v %d",
					f.Requests, f.FailedRequests, f.LongestFailureRun, f.RecoveredSeconds, f.DigestsChecked,
					len(tc.reqs), tc.failed, tc.run, tc.recovered, tc.checked)
			}
			sum := 0
			for _, k := range f.ByKind {
				sum += k.Failed
			}
			if sum != f.FailedRequests {
				t.Errorf("failures by kind add up to %d, not %d", sum, f.FailedRequests)
			}
		})
	}
}

// waitFor waits until rec holds a push started after since that failed
// (or succeeded).
func waitFor(t *testing.T, rec *Recorder, since time.Time, failed bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, r := range rec.Requests() {
			if r.Kind == Push && r.Start.After(since) && r.Failed() == failed {
				return
			}
		}
	}
	t.Fatalf("no push since %v with failed=%v within 10 s", since, failed)
}
