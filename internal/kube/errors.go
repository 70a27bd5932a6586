package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/harborha/helm-harborha/internal/output"
)

// Op names an API call for messages: the verb and resource RBAC must allow.
type Op struct {
	Verb      string // get, list, create, ...
	Resource  string // plural, e.g. "secrets"
	Group     string // API group, "" for the core group
	Namespace string // "" for cluster-scoped resources
	Name      string // "" for collections
}

// resource is "secrets" or "clusters.apps.kubeblocks.io".
func (o Op) resource() string {
	if o.Group == "" {
		return o.Resource
	}
	return o.Resource + "." + o.Group
}

func (o Op) scope() string {
	if o.Namespace == "" {
		return "cluster-wide"
	}
	return fmt.Sprintf("in namespace %q", o.Namespace)
}

// Error is an explained API error: one line for the user, the original
// error kept for errors.Is/As (apierrors.IsForbidden etc. still work).
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

var userRE = regexp.MustCompile(`User "([^"]*)"`)

// Explain turns an error returned by a call to the API server into one
// actionable line naming the server, the context and, for RBAC, the verb
// and resource a Role must allow. nil stays nil; an already explained
// error is returned unchanged.
func (c *Client) Explain(err error, op Op) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	return &Error{Msg: c.message(err, op), Err: err}
}

func (c *Client) message(err error, op Op) string {
	what := op.resource()
	if op.Name != "" {
		what = fmt.Sprintf("%s %q", what, op.Name)
	}
	switch {
	case apierrors.IsForbidden(err):
		who := "the current user"
		if m := userRE.FindStringSubmatch(err.Error()); m != nil {
			who = fmt.Sprintf("user %q", m[1])
		}
		grant := "a Role and RoleBinding"
		if op.Namespace == "" {
			grant = "a ClusterRole and ClusterRoleBinding"
		}
		return fmt.Sprintf("forbidden: %s may not %s %s %s on %s; RBAC must allow verb %q on resource %q (API group %q) %s (%s)",
			who, op.Verb, what, op.scope(), c.Where(), op.Verb, op.Resource, op.Group, op.scope(), grant)
	case apierrors.IsUnauthorized(err):
		return fmt.Sprintf("the API server %s rejected the credentials (401 Unauthorized) while trying to %s %s: refresh the kubeconfig's credentials or choose another context with --kube-context", c.Where(), op.Verb, what)
	case apierrors.IsNotFound(err) && op.Name == "":
		return fmt.Sprintf("the API server %s does not serve %s (404 when trying to %s them %s)", c.Where(), op.resource(), op.Verb, op.scope())
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s not found %s on %s", what, op.scope(), c.Where())
	case apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err):
		return fmt.Sprintf("the API server %s did not answer in time while trying to %s %s %s: try again", c.Where(), op.Verb, what, op.scope())
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		return fmt.Sprintf("the API server %s refused to %s %s %s: %s (%s)", c.Where(), op.Verb, what, op.scope(), strings.TrimSpace(s.Message), s.Reason)
	}
	return c.transportMessage(err)
}

// transportMessage explains errors that never reached the API server.
func (c *Client) transportMessage(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		dnsErr    *net.DNSError
	)
	reason := ""
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		reason = "no answer before the deadline"
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		reason = "no route to host"
	case errors.As(err, &dnsErr):
		reason = fmt.Sprintf("the host name %q does not resolve", dnsErr.Name)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr):
		return fmt.Sprintf("TLS verification of the API server %s failed (%v): check the certificate authority in the kubeconfig", c.Where(), output.OneLine(err.Error()))
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			reason = "timed out"
		} else {
			reason = output.OneLine(err.Error())
		}
	}
	return fmt.Sprintf("cannot reach the Kubernetes API server %s: %s; check that the cluster is running and that KUBECONFIG, --kubeconfig or --kube-context select it", c.Where(), reason)
}
