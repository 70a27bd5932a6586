package bootstrap

import (
	"bytes"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/output"
)

// DryRun returns what Run and generated.Ensure would create, as a YAML
// stream: the generated Secrets (created only when missing; passwords and
// values redacted), the single-use password copies for clusters outside
// Harbor's namespace, and the Jobs. It makes no API call.
func DryRun(opts Spec) ([]byte, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# helm harborha bootstrap --dry-run: nothing was created.\n")
	b.WriteString("# Generated Secrets are created only when missing and reused otherwise; passwords are redacted.\n")
	if o.Rotate {
		fmt.Fprintf(&b, "# --rotate: an existing Secret gets a new password under key %q until its Job has set it.\n", rotatingKey)
	}
	var objs []runtime.Object
	add := func(j *jobRun, build func(passwordRef) *batchv1.Job) {
		cr := j.cred
		objs = append(objs, generated.NewSecret(o.Namespace, cr.secret, o.Release, cr.component, map[string][]byte{
			cr.usernameKey: []byte(cr.name), cr.passwordKey: []byte(output.Redacted),
		}))
		j.password = ensured{key: cr.passwordKey}
		pw, input := jobPassword(o, j, output.Redacted)
		if input != nil {
			objs = append(objs, input)
		}
		objs = append(objs, build(pw))
	}
	if o.Postgres != nil {
		add(postgresRun(o), func(pw passwordRef) *batchv1.Job { return postgresJob(o, pw) })
	}
	if r := o.Redis; r != nil {
		nodes := r.Nodes
		if len(nodes) == 0 {
			nodes = []string{r.addr()}
			if r.Service != "" {
				fmt.Fprintf(&b, "# REDIS_NODES: at run time, every running pod of Service %s/%s's component.\n", r.Namespace, r.Service)
				fmt.Fprintf(&b, "# Then ConfigMap %s/%s records those pods (doctor compares the cluster's pods with it).\n", o.Namespace, RedisNodesName(o.Release))
			}
		}
		add(redisRun(o), func(pw passwordRef) *batchv1.Job { return redisJob(o, nodes, pw) })
	}
	if c := o.RedisCopy; c != nil && o.Redis == nil {
		objs = append(objs, redisCopySecret(o.Namespace, o.Release, c.Namespace+"/"+c.Secret.Name, map[string][]byte{
			RedisUsernameKey: []byte(output.Redacted), RedisPasswordKey: []byte(output.Redacted)}))
	}
	for _, s := range generated.DryRun(o.Namespace, o.Release) {
		objs = append(objs, s)
	}
	for _, obj := range objs {
		doc, err := cleanYAML(obj)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(doc)
	}
	return b.Bytes(), nil
}

// cleanYAML is obj as YAML without the fields only a server fills
// (status, creationTimestamp), with Secret data readable (stringData).
func cleanYAML(obj runtime.Object) ([]byte, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		c := s.DeepCopy()
		c.StringData = map[string]string{}
		for k, v := range c.Data {
			c.StringData[k] = string(v)
		}
		c.Data = nil
		obj = c
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	dropEmpty(m)
	return yaml.Marshal(m)
}

// dropEmpty removes null creationTimestamps and the empty maps they leave.
func dropEmpty(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case map[string]any:
			dropEmpty(t)
			if len(t) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropEmpty(em)
				}
			}
		}
	}
}
