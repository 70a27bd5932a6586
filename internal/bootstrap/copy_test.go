package bootstrap

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
)

// A Redis cluster outside Harbor's namespace: its account credential is
// copied where Harbor's pods can read it, the copy follows the account,
// a bootstrapped user's Secret is left alone, and a password that cannot
// go into a URL unescaped is refused without being shown.
func TestRedisCopyFollowsTheAccount(t *testing.T) {
	cs := fake.NewClientset(superSecret("kb", "myredis-redis-account-default", "default", "AccountPassword1"))
	c := &kube.Client{Typed: cs, Namespace: "harbor"}
	ctx := context.Background()
	var progress bytes.Buffer
	o := Spec{Release: "myharbor", Namespace: "harbor", Progress: &progress,
		RedisCopy: &Endpoint{Namespace: "kb", Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}}
	copied := func() map[string][]byte {
		t.Helper()
		s, err := cs.CoreV1().Secrets("harbor").Get(ctx, "myharbor-harborha-redis", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Data
	}

	res, err := Run(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if rd := res.Redis; rd == nil || !rd.Copy || rd.User != "default" || rd.Secret != "myharbor-harborha-redis" {
		t.Fatalf("result %+v", res.Redis)
	}
	if d := copied(); string(d[RedisUsernameKey]) != "default" || string(d[RedisPasswordKey]) != "AccountPassword1" {
		t.Errorf("copy holds %q / (password %v)", d[RedisUsernameKey], string(d[RedisPasswordKey]) == "AccountPassword1")
	}

	src, _ := cs.CoreV1().Secrets("kb").Get(ctx, "myredis-redis-account-default", metav1.GetOptions{})
	src.Data["password"] = []byte("RotatedByKubeBlocks2")
	if _, err := cs.CoreV1().Secrets("kb").Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, c, o); err != nil {
		t.Fatal(err)
	}
	if string(copied()[RedisPasswordKey]) != "RotatedByKubeBlocks2" || !strings.Contains(progress.String(), "updated Secret harbor/myharbor-harborha-redis") {
		t.Errorf("the copy did not follow the account:\n%s", progress.String())
	}

	user := superSecret("harbor", "myharbor-harborha-redis", "harbor", "UserPassword3")
	user.Data = map[string][]byte{RedisUsernameKey: []byte("harbor"), RedisPasswordKey: []byte("UserPassword3")}
	if err := cs.CoreV1().Secrets("harbor").Delete(ctx, user.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("harbor").Create(ctx, user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := Run(ctx, c, o); err != nil || res.Redis.Copy || res.Redis.User != "harbor" || string(copied()[RedisPasswordKey]) != "UserPassword3" {
		t.Errorf("a bootstrapped user's Secret was not used as it is: %+v %v", res.Redis, err)
	}

	src.Data["password"] = []byte("has/slash@and:colon")
	if _, err := cs.CoreV1().Secrets("kb").Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = cs.CoreV1().Secrets("harbor").Delete(ctx, user.Name, metav1.DeleteOptions{})
	_, err = Run(ctx, c, o)
	if err == nil || !strings.Contains(err.Error(), `the password in Secret kb/myredis-redis-account-default key "password" holds characters`) || strings.Contains(err.Error(), "slash") {
		t.Errorf("an unsafe password: %v", err)
	}
	if strings.Contains(progress.String(), "AccountPassword1") || strings.Contains(progress.String(), "RotatedByKubeBlocks2") {
		t.Error("a password is in the progress")
	}
}

// Everything that can be checked is checked before anything is created:
// with PostgreSQL to bootstrap too, an unsafe Redis password to copy is
// refused before the database's Secret or Job exists.
func TestRedisCopyCheckedFirst(t *testing.T) {
	cs := fake.NewClientset(superSecret("kb", "myredis-redis-account-default", "default", "has/slash@and:colon"),
		superSecret("kb", "mypg-conn-credential", "postgres", "PgPassword1"))
	o := Spec{Release: "myharbor", Namespace: "harbor", Progress: &bytes.Buffer{},
		Postgres:  &PostgresTarget{Endpoint: Endpoint{Namespace: "kb", Host: "10.96.0.10", Port: 5432, Secret: SecretRef{Name: "mypg-conn-credential"}}},
		RedisCopy: &Endpoint{Namespace: "kb", Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}}
	_, err := Run(context.Background(), &kube.Client{Typed: cs, Namespace: "harbor"}, o)
	if err == nil || !strings.Contains(err.Error(), "holds characters") {
		t.Fatalf("error %v, want the unsafe password refused", err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("%s %s created before the check failed", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// The dry run shows the very copy Secret Run creates: the same name,
// labels and annotations (the note saying what it is among them), only
// its values redacted.
func TestDryRunShowsTheRedisCopyRunCreates(t *testing.T) {
	cs := fake.NewClientset(superSecret("kb", "myredis-redis-account-default", "default", "AccountPassword1"))
	o := Spec{Release: "myharbor", Namespace: "harbor",
		RedisCopy: &Endpoint{Namespace: "kb", Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}}
	if _, err := Run(context.Background(), &kube.Client{Typed: cs, Namespace: "harbor"}, o); err != nil {
		t.Fatal(err)
	}
	created, err := cs.CoreV1().Secrets("harbor").Get(context.Background(), RedisSecretName("myharbor"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DryRun(o)
	if err != nil {
		t.Fatal(err)
	}
	var shown *corev1.Secret
	for _, part := range strings.Split(string(doc), "\n---\n") {
		var s corev1.Secret
		if err := yaml.Unmarshal([]byte(part), &s); err == nil && s.Kind == "Secret" && s.Name == created.Name {
			shown = &s
		}
	}
	if shown == nil {
		t.Fatalf("the dry run shows no Secret %s:\n%s", created.Name, doc)
	}
	if !reflect.DeepEqual(shown.Labels, created.Labels) || !reflect.DeepEqual(shown.Annotations, created.Annotations) {
		t.Errorf("the dry run's copy differs from Run's:\n labels %v\n  want %v\n annotations %v\n  want %v", shown.Labels, created.Labels, shown.Annotations, created.Annotations)
	}
	if created.Annotations[generated.NoteAnnotation] == "" {
		t.Error("the copy carries no note saying what it is")
	}
}
