package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Grant is RBAC for a test user: Rules in Namespace (a Role and
// RoleBinding), or cluster-wide when Namespace is "" (a ClusterRole and
// ClusterRoleBinding).
type Grant struct {
	Namespace string
	Rules     []rbacv1.PolicyRule
}

// User provisions a user (client certificate, no groups besides
// system:authenticated) with the given grants, waits until the RBAC
// authorizer has seen them, and returns the path of its kubeconfig file
// (context Context). User names must be unique in the package.
func (e *Env) User(t testing.TB, name string, grants ...Grant) string {
	t.Helper()
	e.mu.Lock()
	u, ok := e.users[name]
	if !ok {
		var err error
		u, err = e.te.AddUser(envtest.User{Name: name}, &rest.Config{QPS: 1000, Burst: 2000})
		if err != nil {
			e.mu.Unlock()
			t.Fatalf("adding user %s: %v", name, err)
		}
		e.users[name] = u
	}
	e.mu.Unlock()
	c := ctx(t)
	rbac := e.Typed.RbacV1()
	for i, g := range grants {
		roleName := fmt.Sprintf("kubetest-%s-%d", name, i)
		subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}
		var err error
		if g.Namespace == "" {
			_, err = rbac.ClusterRoles().Create(c, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: g.Rules}, metav1.CreateOptions{})
			if err == nil {
				_, err = rbac.ClusterRoleBindings().Create(c, &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: roleName}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
				}, metav1.CreateOptions{})
			}
		} else {
			_, err = rbac.Roles(g.Namespace).Create(c, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: g.Rules}, metav1.CreateOptions{})
			if err == nil {
				_, err = rbac.RoleBindings(g.Namespace).Create(c, &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: roleName}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
				}, metav1.CreateOptions{})
			}
		}
		if err != nil {
			t.Fatalf("RBAC for user %s: %v", name, err)
		}
		// The RBAC authorizer works from informer caches: wait until it
		// allows what was just granted, or tests would see stale denials.
		for _, r := range g.Rules {
			e.waitAllowed(t, c, name, g.Namespace, r)
		}
	}
	path, err := e.writeKubeconfig(name, u.Config())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *Env) waitAllowed(t testing.TB, c context.Context, user, ns string, r rbacv1.PolicyRule) {
	t.Helper()
	if len(r.Verbs) == 0 || len(r.Resources) == 0 {
		return
	}
	group := ""
	if len(r.APIGroups) > 0 {
		group = r.APIGroups[0]
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: ns, Verb: r.Verbs[0], Group: group, Resource: r.Resources[0],
		},
	}}
	err := wait.PollUntilContextTimeout(c, 20*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
		got, err := e.Typed.AuthorizationV1().SubjectAccessReviews().Create(c, sar, metav1.CreateOptions{})
		return err == nil && got.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("user %s still not allowed to %s %s in %q: %v", user, r.Verbs[0], r.Resources[0], ns, err)
	}
}
