package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kube"
)

// credential describes one generated Secret: who it is for and its keys.
type credential struct {
	what        string // "role", "Redis user": for messages
	name        string // role or user name, stored under usernameKey
	secret      string
	component   string
	usernameKey string
	passwordKey string
	// usable says why a reused password cannot serve (nil: any will).
	usable func(what, password string) error
}

func (o Spec) databaseCredential() credential {
	return credential{what: "PostgreSQL role", name: o.Postgres.Role, secret: DatabaseSecretName(o.Release),
		component: "database", usernameKey: DatabaseUsernameKey, passwordKey: DatabasePasswordKey,
		usable: harbor.CheckDatabasePassword}
}

func (o Spec) redisCredential() credential {
	return credential{what: "Redis user", name: o.Redis.User, secret: RedisSecretName(o.Release),
		component: "redis", usernameKey: RedisUsernameKey, passwordKey: RedisPasswordKey}
}

// ensured is the state of a generated Secret once ensureSecret returns.
type ensured struct {
	password string // what the Job sets (and checks): the new one when rotating
	key      string // the Secret key holding it
	created  bool
}

// ensureSecret creates the credential's Secret with a generated password
// when missing and otherwise reuses it. Rotating stores the new password
// under rotatingKey; finishRotation moves it in place once the Job has set
// it, so a failed rotation leaves the working password untouched.
func (r *runner) ensureSecret(ctx context.Context, cr credential) (ensured, error) {
	ns := r.o.Namespace
	secrets := r.c.Typed.CoreV1().Secrets(ns)
	var pw string
	s, created, err := generated.GetOrCreate(ctx, r.c, ns, cr.secret, func() (*corev1.Secret, error) {
		pw = newPassword()
		return generated.NewSecret(ns, cr.secret, r.o.Release, cr.component, map[string][]byte{
			cr.usernameKey: []byte(cr.name),
			cr.passwordKey: []byte(pw),
		}), nil
	})
	if err != nil {
		return ensured{}, err
	}
	if created {
		r.redact(pw)
		r.say("created Secret %s/%s for the %s %q", ns, cr.secret, cr.what, cr.name)
		return ensured{password: pw, key: cr.passwordKey, created: true}, nil
	}
	if got, ok := s.Data[cr.usernameKey]; ok && string(got) != cr.name {
		return ensured{}, fmt.Errorf("Secret %s/%s holds the password of the %s %q, not %q: keep the name %q, or delete the Secret to start over for %q",
			ns, cr.secret, cr.what, got, cr.name, got, cr.name)
	}
	pw = string(s.Data[cr.passwordKey])
	if len(pw) < 16 {
		return ensured{}, fmt.Errorf("Secret %s/%s has no key %q with a password of 16 characters or more: delete the Secret so that bootstrap generates one (then run it with --rotate if the %s %q already exists)",
			ns, cr.secret, cr.passwordKey, cr.what, cr.name)
	}
	if cr.usable != nil {
		if err := cr.usable(fmt.Sprintf("the password in Secret %s/%s (key %q)", ns, cr.secret, cr.passwordKey), pw); err != nil {
			return ensured{}, fmt.Errorf("%w: delete the Secret so that bootstrap generates one (then run it with --rotate if the %s %q already exists)", err, cr.what, cr.name)
		}
	}
	r.redact(pw)
	if !r.o.Rotate {
		r.say("reusing Secret %s/%s for the %s %q", ns, cr.secret, cr.what, cr.name)
		return ensured{password: pw, key: cr.passwordKey}, nil
	}
	next := newPassword()
	r.redact(next)
	s.Data[rotatingKey] = []byte(next)
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return ensured{}, r.c.Explain(err, kube.Op{Verb: "update", Resource: "secrets", Namespace: ns, Name: cr.secret})
	}
	r.say("rotating: new password stored in Secret %s/%s (key %s) until the Job has set it", ns, cr.secret, rotatingKey)
	return ensured{password: next, key: rotatingKey}, nil
}

// finishRotation makes the rotated password the Secret's password.
func (r *runner) finishRotation(ctx context.Context, cr credential, password string) error {
	ns := r.o.Namespace
	secrets := r.c.Typed.CoreV1().Secrets(ns)
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a conflict means someone else wrote it: read again
		var s *corev1.Secret
		if s, err = secrets.Get(ctx, cr.secret, metav1.GetOptions{}); err != nil {
			break
		}
		s.Data[cr.passwordKey] = []byte(password)
		delete(s.Data, rotatingKey)
		if _, err = secrets.Update(ctx, s, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("the %s %q now has the password stored under key %q of Secret %s/%s, but moving it to key %q failed: %v; copy it there by hand before Harbor restarts",
			cr.what, cr.name, rotatingKey, ns, cr.secret, cr.passwordKey, r.c.Explain(err, kube.Op{Verb: "update", Resource: "secrets", Namespace: ns, Name: cr.secret}))
	}
	if cr.component == "redis" {
		r.say("Secret %s/%s now holds the rotated password: Harbor uses it once the values overlay is written again and the release upgraded", ns, cr.secret)
	} else {
		r.say("Secret %s/%s now holds the rotated password: Harbor's pods read it when they restart (kubectl -n %s rollout restart deployment,statefulset -l release=%s)", ns, cr.secret, ns, r.o.Release)
	}
	return nil
}

// copyOfAnnotation marks a Secret that copies a cluster's credential.
const copyOfAnnotation = "harborha.io/copy-of"

// redisCopySecret is the copy of the Redis account's credential (from
// Secret origin, "namespace/name") in Harbor's namespace, as Run creates it
// and DryRun shows it.
func redisCopySecret(ns, release, origin string, data map[string][]byte) *corev1.Secret {
	s := generated.NewSecret(ns, RedisSecretName(release), release, "redis", data)
	s.Annotations = map[string]string{
		copyOfAnnotation:         origin,
		generated.NoteAnnotation: "copy of the Redis account's credential for Harbor's pods; bootstrap updates it when the account's changes",
	}
	return s
}

// accountCredential is the Redis account's credential that copyRedis copies.
type accountCredential struct{ user, password []byte }

// readRedisCopy reads and checks the Redis account's credential before
// anything is created: an unsafe password is refused before the database
// role exists.
func (r *runner) readRedisCopy(ctx context.Context) (*accountCredential, error) {
	src := r.o.RedisCopy
	s, err := r.c.Typed.CoreV1().Secrets(src.Namespace).Get(ctx, src.Secret.Name, metav1.GetOptions{})
	if err != nil {
		return nil, r.c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: src.Namespace, Name: src.Secret.Name})
	}
	user, pw := s.Data[src.Secret.UsernameKey], s.Data[src.Secret.PasswordKey]
	r.redact(string(pw))
	what := fmt.Sprintf("the password in Secret %s/%s key %q", src.Namespace, src.Secret.Name, src.Secret.PasswordKey)
	if err := harbor.CheckRedisCredential(what, string(pw)); err != nil {
		return nil, err
	}
	return &accountCredential{user: user, password: pw}, nil
}

// copyRedis copies the Redis cluster's account credential into Harbor's
// namespace (RedisSecretName), for a cluster that lives elsewhere: a pod
// reads only its own namespace's Secrets. The copy follows the account
// (it is updated when they differ); the Secret of a user bootstrap
// created (--redis-user) is used as it is.
func (r *runner) copyRedis(ctx context.Context, cred *accountCredential) (*RedisResult, error) {
	src, user, pw := r.o.RedisCopy, cred.user, cred.password
	ns, name := r.o.Namespace, RedisSecretName(r.o.Release)
	data := map[string][]byte{RedisUsernameKey: user, RedisPasswordKey: pw}
	origin := src.Namespace + "/" + src.Secret.Name
	secrets := r.c.Typed.CoreV1().Secrets(ns)
	cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := secrets.Create(ctx, redisCopySecret(ns, r.o.Release, origin, data), metav1.CreateOptions{}); err != nil {
			return nil, r.c.Explain(err, kube.Op{Verb: "create", Resource: "secrets", Namespace: ns, Name: name})
		}
		r.say("copied the credential of Redis account %q from Secret %s into Secret %s/%s (Harbor's pods read only their namespace's Secrets)", user, origin, ns, name)
	case err != nil:
		return nil, r.c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: ns, Name: name})
	case cur.Annotations[copyOfAnnotation] == "":
		r.say("using Secret %s/%s of the Redis user %q", ns, name, cur.Data[RedisUsernameKey])
		return &RedisResult{User: string(cur.Data[RedisUsernameKey]), Secret: name}, nil
	case !maps.EqualFunc(cur.Data, data, bytes.Equal):
		cur.Data, cur.Annotations[copyOfAnnotation] = data, origin
		if _, err := secrets.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return nil, r.c.Explain(err, kube.Op{Verb: "update", Resource: "secrets", Namespace: ns, Name: name})
		}
		r.say("updated Secret %s/%s: the Redis account's credential in %s changed; restart Harbor's pods to use it", ns, name, origin)
	default:
		r.say("reusing Secret %s/%s (copy of %s)", ns, name, origin)
	}
	return &RedisResult{User: string(user), Secret: name, Copy: true}, nil
}
