package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	_ "embed" // the scripts the Jobs run
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/generated"
)

var (
	//go:embed postgres.sql
	postgresSQL string
	//go:embed postgres.sh
	postgresShell string
	//go:embed redis.sh
	redisShell string
)

// RedisACL are the rules of Harbor's Redis user: every key and pub/sub
// channel (Harbor's components share no key prefix), every command except
// the administrative and dangerous ones (FLUSHALL, FLUSHDB, CONFIG, ACL,
// DEBUG, SHUTDOWN, REPLICAOF, MONITOR, MODULE, SAVE, SWAPDB, MIGRATE,
// CLIENT KILL, ...), with two of those given back:
//   - KEYS: gocraft/work, jobservice's queue library, calls it from a Lua
//     script (its stale-lock check);
//   - ROLE: with Sentinel, Harbor's connection pool checks ROLE on every
//     connection it borrows (FZambia/sentinel TestRole).
//
// Redis ACLs cannot restrict database indexes: the user can SELECT any.
const RedisACL = "on resetkeys ~* resetchannels &* +@all -@admin -@dangerous +keys +role"

// jobName is "<release>-harborha-bootstrap-<engine>", shortened with a hash
// of the release when longer than 63 characters: the Job's name is also a
// label value on its pods.
func jobName(release, engine string) string {
	suffix := "-harborha-bootstrap-" + engine
	if len(release)+len(suffix) <= 63 {
		return release + suffix
	}
	sum := sha256.Sum256([]byte(release))
	h := hex.EncodeToString(sum[:])[:8]
	keep := 63 - len(suffix) - len(h) - 1
	return strings.TrimRight(release[:keep], "-.") + "-" + h + suffix
}

// newPassword is 26 characters of base32 (A-Z, 2-7, 130 bits): nothing to
// escape in a URL, a DSN, a psql literal or a redis-cli argument.
func newPassword() string { return rand.Text() }

// jobInput is a single-use copy of the generated password next to the
// cluster, for a Job running outside Harbor's namespace (secretKeyRef reads
// only the pod's own namespace). It is deleted with the Job.
func jobInput(ns, name, release, component, password string) *corev1.Secret {
	s := generated.NewSecret(ns, name, release, component, map[string][]byte{"password": []byte(password)})
	s.Annotations = map[string]string{generated.NoteAnnotation: "temporary input of a harborha bootstrap Job; deleted with it"}
	return s
}

// passwordRef is where a Job reads the password it sets.
type passwordRef struct{ secret, key string }

func secretEnv(name string, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key},
	}}
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// postgresJob runs postgres.sh with the superuser from the cluster's Secret.
func postgresJob(o Spec, pw passwordRef) *batchv1.Job {
	pg := o.Postgres
	su := pg.Secret
	vars := []corev1.EnvVar{
		env("PGHOST", pg.Host),
		env("PGPORT", strconv.Itoa(pg.Port)),
		env("PGDATABASE", "postgres"),
		secretEnv("PGUSER", su.Name, su.UsernameKey),
		secretEnv("PGPASSWORD", su.Name, su.PasswordKey),
		env("PGCONNECT_TIMEOUT", "10"),
		env("PGAPPNAME", "harborha-bootstrap"),
	}
	if pg.SSLMode != "" {
		vars = append(vars, env("PGSSLMODE", pg.SSLMode))
	}
	vars = append(vars,
		env("HARBOR_DB_ROLE", pg.Role),
		env("HARBOR_DB_NAME", pg.Database),
		secretEnv("HARBOR_DB_PASSWORD", pw.secret, pw.key),
		env("HARBORHA_ROTATE", onOff(o.Rotate)),
		env("HARBORHA_SQL", postgresSQL),
	)
	return job(o, pg.Namespace, jobName(o.Release, "pg"), "bootstrap-postgresql", "psql", o.PsqlImage, postgresShell, vars)
}

// redisJob runs redis.sh against every node.
func redisJob(o Spec, nodes []string, pw passwordRef) *batchv1.Job {
	r := o.Redis
	su := r.Secret
	vars := []corev1.EnvVar{
		env("REDIS_NODES", strings.Join(nodes, " ")),
		secretEnv("REDIS_ADMIN_USER", su.Name, su.UsernameKey),
		secretEnv("REDISCLI_AUTH", su.Name, su.PasswordKey),
		env("HARBOR_REDIS_USER", r.User),
		secretEnv("HARBOR_REDIS_PASSWORD", pw.secret, pw.key),
		env("HARBORHA_ROTATE", onOff(o.Rotate)),
		env("HARBORHA_REDIS_ACL", RedisACL),
	}
	return job(o, r.Namespace, jobName(o.Release, "redis"), "bootstrap-redis", "redis-cli", o.RedisImage, redisShell, vars)
}

// job is a run-once, non-root, read-only pod with no API access.
func job(o Spec, ns, name, component, container, image, script string, vars []corev1.EnvVar) *batchv1.Job {
	labels := generated.Labels(o.Release, component)
	// The Job stops itself at the timeout too, should Run not be there to
	// delete it (the API server wants at least one second).
	deadline := max(1, int64(math.Ceil(o.Timeout.Seconds())))
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: batchv1.JobSpec{
			// No retry: a wrong password or a foreign owner fails the same
			// way twice, and the one failed pod keeps the log to show.
			BackoffLimit:          ptr(int32(0)),
			ActiveDeadlineSeconds: &deadline,
			// Failed Jobs stay for inspection, a day at most.
			TTLSecondsAfterFinished: ptr(int32(86400)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr(false),
					EnableServiceLinks:           ptr(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr(true),
						RunAsUser:      ptr(int64(65534)),
						RunAsGroup:     ptr(int64(65534)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            container,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"/bin/sh", "-c", script},
						Env:             vars,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false),
							ReadOnlyRootFilesystem:   ptr(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("10m"),
								corev1.ResourceMemory: resource.MustParse("32Mi"),
							},
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
						},
					}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }
