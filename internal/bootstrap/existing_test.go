package bootstrap

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
)

func TestExisting(t *testing.T) {
	secret := func(name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "harbor"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	db := secret("myharbor-harborha-db", map[string]string{"username": "harbor", "password": "p"})
	rd := secret("myharbor-harborha-redis", map[string]string{"REDIS_USERNAME": "harbor", "REDIS_PASSWORD": "r"})
	tests := []struct {
		name      string
		secrets   []*corev1.Secret
		wantRedis bool
		wantErr   string
	}{
		{"database and Redis", []*corev1.Secret{db, rd}, true, ""},
		{"database only", []*corev1.Secret{db}, false, ""},
		{"nothing bootstrapped", nil, false, "--bootstrapped myharbor: Secret harbor/myharbor-harborha-db does not exist; run `helm harborha bootstrap myharbor` first"},
		{"database Secret without username", []*corev1.Secret{secret("myharbor-harborha-db", map[string]string{"password": "p"})}, false, `--bootstrapped myharbor: Secret harbor/myharbor-harborha-db lacks key "username" or "password"`},
		{"Redis Secret without password", []*corev1.Secret{db, secret("myharbor-harborha-redis", map[string]string{"REDIS_USERNAME": "harbor"})}, false, `--bootstrapped myharbor: Secret harbor/myharbor-harborha-redis lacks key "REDIS_USERNAME" or "REDIS_PASSWORD"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset()
			for _, s := range tt.secrets {
				if _, err := cs.CoreV1().Secrets("harbor").Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Existing(context.Background(), &kube.Client{Typed: cs, Namespace: "harbor"}, "harbor", "myharbor", "registry")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Database == nil || res.Database.Role != "harbor" || res.Database.Secret != "myharbor-harborha-db" || res.Database.Database != "registry" {
				t.Errorf("database: %+v", res.Database)
			}
			if (res.Redis != nil) != tt.wantRedis || (tt.wantRedis && (res.Redis.User != "harbor" || res.Redis.Secret != "myharbor-harborha-redis")) {
				t.Errorf("redis: %+v", res.Redis)
			}
			if res.Generated == nil || len(res.Generated.Missing()) != len(generated.Names()) || len(res.Generated.Settings()) != 0 {
				t.Errorf("no generated Secret exists, so none may be pointed at: %+v", res.Generated)
			}
		})
	}
}

// Prior serves template and --dry-run, which have no --bootstrapped: its
// errors name the Secret and what to run, not that flag.
func TestPriorNamesNoFlag(t *testing.T) {
	cs := fake.NewSimpleClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "myharbor-harborha-db", Namespace: "harbor"},
		Data: map[string][]byte{"password": []byte("p")}})
	_, err := Prior(context.Background(), &kube.Client{Typed: cs, Namespace: "harbor"}, "harbor", "myharbor", "registry")
	want := "Secret harbor/myharbor-harborha-db lacks key \"username\" or \"password\"; run `helm harborha bootstrap myharbor` again"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
