package bootstrap

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/kube"
)

// Existing reads back what an earlier `bootstrap RELEASE` created in
// Harbor's namespace, so that `values` can point the overlay at it without
// running the Jobs again: the database Secret must exist; the Redis one is
// used when it does. database is the database the role owns (bootstrap
// does not record it: it is the --database of both commands).
func Existing(ctx context.Context, c *kube.Client, namespace, release, database string) (Result, error) {
	res := Result{Namespace: namespace}
	dbName := DatabaseSecretName(release)
	db, err := c.Typed.CoreV1().Secrets(namespace).Get(ctx, dbName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return res, fmt.Errorf("--bootstrapped %s: Secret %s/%s does not exist; run `helm harborha bootstrap %s` first", release, namespace, dbName, release)
	}
	if err != nil {
		return res, c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: namespace, Name: dbName})
	}
	role := string(db.Data[DatabaseUsernameKey])
	if role == "" || len(db.Data[DatabasePasswordKey]) == 0 {
		return res, fmt.Errorf("--bootstrapped %s: Secret %s/%s lacks key %q or %q; run `helm harborha bootstrap %s` again", release, namespace, dbName, DatabaseUsernameKey, DatabasePasswordKey, release)
	}
	res.Database = &DatabaseResult{Role: role, Database: database, Secret: dbName}

	redisName := RedisSecretName(release)
	rd, err := c.Typed.CoreV1().Secrets(namespace).Get(ctx, redisName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return res, nil // bootstrap ran without --redis-user
	case err != nil:
		return res, c.Explain(err, kube.Op{Verb: "get", Resource: "secrets", Namespace: namespace, Name: redisName})
	}
	user, password := string(rd.Data[RedisUsernameKey]), string(rd.Data[RedisPasswordKey])
	if user == "" || password == "" {
		return res, fmt.Errorf("--bootstrapped %s: Secret %s/%s lacks key %q or %q; run `helm harborha bootstrap %s --redis-user NAME` again", release, namespace, redisName, RedisUsernameKey, RedisPasswordKey, release)
	}
	res.Redis = &RedisResult{User: user, Secret: redisName, Password: password}
	return res, nil
}
