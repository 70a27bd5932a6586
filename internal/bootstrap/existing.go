package bootstrap

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
)

// Existing reads back what an earlier `bootstrap RELEASE` created in
// Harbor's namespace, so that `values` can point the overlay at it without
// running the Jobs again: the database Secret must exist; the Redis one
// (a user's, or the copy) is used when it does, and so is each generated
// value's. database is the database the role owns (bootstrap does not
// record it: it is the --database of both commands).
func Existing(ctx context.Context, c *kube.Client, namespace, release, database string) (Result, error) {
	res, err := Prior(ctx, c, namespace, release, database)
	if err == nil && res.Database == nil {
		err = fmt.Errorf("Secret %s/%s does not exist; run `helm harborha bootstrap %s` first", namespace, DatabaseSecretName(release), release)
	}
	if err != nil {
		return res, fmt.Errorf("--bootstrapped %s: %w", release, err)
	}
	return res, nil
}

// Prior is whatever bootstrap left for the release, requiring nothing:
// `helm harborha template` and Helm's --dry-run point the overlay at it
// without changing the cluster. Its errors name no flag: those runs have
// no --bootstrapped.
func Prior(ctx context.Context, c *kube.Client, namespace, release, database string) (Result, error) {
	res := Result{Namespace: namespace}
	dbName := DatabaseSecretName(release)
	db, err := c.Typed.CoreV1().Secrets(namespace).Get(ctx, dbName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return res, c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: namespace, Name: dbName})
	default:
		role := string(db.Data[DatabaseUsernameKey])
		if role == "" || len(db.Data[DatabasePasswordKey]) == 0 {
			return res, fmt.Errorf("Secret %s/%s lacks key %q or %q; run `helm harborha bootstrap %s` again", namespace, dbName, DatabaseUsernameKey, DatabasePasswordKey, release)
		}
		res.Database = &DatabaseResult{Role: role, Database: database, Secret: dbName}
	}
	if res.Redis, err = existingRedis(ctx, c, namespace, release); err != nil {
		return res, err
	}
	g, err := generated.Read(ctx, c, namespace, release)
	if err != nil {
		return res, err
	}
	res.Generated = &g
	return res, nil
}

// existingRedis is bootstrap's Redis Secret, nil when bootstrap made none
// (no --redis-user, and the cluster in Harbor's namespace).
func existingRedis(ctx context.Context, c *kube.Client, namespace, release string) (*RedisResult, error) {
	name := RedisSecretName(release)
	rd, err := c.Typed.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: namespace, Name: name})
	}
	user := string(rd.Data[RedisUsernameKey])
	if user == "" || len(rd.Data[RedisPasswordKey]) == 0 {
		return nil, fmt.Errorf("Secret %s/%s lacks key %q or %q; run `helm harborha bootstrap %s` again", namespace, name, RedisUsernameKey, RedisPasswordKey, release)
	}
	return &RedisResult{User: user, Secret: name, Copy: rd.Annotations[copyOfAnnotation] != ""}, nil
}
