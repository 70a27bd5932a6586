package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// csrfHeader is where Harbor's CSRF middleware hands out its token and
// expects it back (src/server/middleware/csrf).
const csrfHeader = "X-Harbor-CSRF-Token"

// login opens a UI session as the portal does: a GET that Harbor's CSRF
// middleware answers with a token, then POST /c/login with it. Harbor
// keeps the session in Redis; API calls carry its cookie.
func (p *Probe) login(ctx context.Context) Request {
	return p.timed(ctx, Login, func(ctx context.Context) (string, error) {
		token, err := p.csrfToken(ctx)
		if err != nil {
			return "", err
		}
		form := url.Values{"principal": {p.t.Username}, "password": {p.t.Password}}
		req, err := p.request(ctx, http.MethodPost, "/c/login", strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(csrfHeader, token)
		if err := p.do(req, http.StatusOK); err != nil {
			return "", err
		}
		// The token stays valid with the CSRF cookie the jar keeps.
		p.mu.Lock()
		p.csrf = token
		p.mu.Unlock()
		return "", nil
	})
}

// Login opens a new session (the old one is replaced), as a request.
func (p *Probe) Login(ctx context.Context) Request { return p.login(ctx) }

func (p *Probe) csrfToken(ctx context.Context) (string, error) {
	req, err := p.request(ctx, http.MethodGet, "/c/login", nil)
	if err != nil {
		return "", err
	}
	resp, err := p.web.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	token := resp.Header.Get(csrfHeader)
	if token == "" {
		return "", fmt.Errorf("GET /c/login: HTTP %d without a %s header: is %s a Harbor?", resp.StatusCode, csrfHeader, p.t.URL)
	}
	return token, nil
}

// get calls path on the session and wants status.
func (p *Probe) get(ctx context.Context, path string, want int) error {
	req, err := p.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	return p.do(req, want)
}

func (p *Probe) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	base := strings.TrimSuffix(p.t.URL, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	// The CSRF check compares the Referer with the host on HTTPS.
	req.Header.Set("Referer", base+"/")
	return req, nil
}

func (p *Probe) do(req *http.Request, want int) error {
	resp, err := p.web.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != want {
		return &statusError{req.Method + " " + req.URL.Path, resp.StatusCode, strings.TrimSpace(string(body))}
	}
	return nil
}

// statusError is an API answer other than the one wanted.
type statusError struct {
	request string
	code    int
	body    string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: HTTP %d %s", e.request, e.code, e.body) }
