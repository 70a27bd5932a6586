package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
)

// aclCheck: every data pod of the Redis (or Valkey) cluster Harbor logs in
// to with bootstrap's ACL user is one bootstrap gave the user to. ACL users
// are per node and not replicated (redis/redis#6738): a replica added after
// bootstrap, or a pod rebuilt on a new volume, lacks the user, and Harbor
// cannot log in once it fails over to it. Doctor compares the cluster's
// data pods with the pods bootstrap recorded (bootstrap.RedisNodes, a
// ConfigMap of the release listed with the others): no Secret, no exec, no
// Job, no further request. A pod KubeBlocks gave the user itself when it
// joined (the Redis addon 1.0.2 and later, and Valkey, copy ACL users on
// scale-out) shows as missing until bootstrap runs again; a user deleted
// by hand goes unseen (bootstrap, which logs in as Harbor on every node,
// is the thorough check).
//
// users are the Redis usernames in Harbor's configuration for the cluster:
// none (or "default") means Harbor logs in as the cluster's own account,
// which KubeBlocks provisions on every node, and there is nothing to check
// unless bootstrap recorded a user.
func (k *checker) aclCheck(t *target, users []string) {
	cl, v, subject := t.cluster, t.view, t.subject()
	rec, ok := k.aclRecord(subject, harborUser(users))
	if !ok {
		return
	}
	fix := fmt.Sprintf("run bootstrap again (helm harborha bootstrap %s --redis-user %s, or helm harborha upgrade): it gives every running data pod the user and records them", k.o.Release, rec.User)
	switch {
	case v.errs["pods"] != nil:
		k.r.unchecked(subject, "acl", v.errs["pods"])
		return
	case t.primaryErr == nil && (rec.Namespace != v.ns || rec.Service != t.primary.Name):
		k.r.finding(subject, "acl", fix, "bootstrap gave user %q to the pods of Service %s/%s, but Harbor uses cluster %s (Service %s): its pods may all lack the user",
			rec.User, rec.Namespace, rec.Service, cl.Ref(), t.primary.Name)
		return
	}
	var pods, missing []string
	for i := range v.pods {
		p := &v.pods[i]
		if p.Labels[discover.LabelInstance] != cl.Name || p.Labels[discover.LabelComponent] != cl.Component || p.DeletionTimestamp != nil {
			continue
		}
		pods = append(pods, p.Name)
		if !slices.Contains(rec.Pods, p.Name) {
			missing = append(missing, describePod(p.Name, p.Labels[discover.LabelRole]))
		}
	}
	switch {
	case len(missing) > 0:
		k.r.finding(subject, "acl", fix,
			"%s joined after bootstrap gave user %q to %s: ACL users are per node and not replicated, so Harbor cannot log in after a failover to %s (unless KubeBlocks copied the user when it joined: its Redis addon 1.0.2 and later and Valkey do on scale-out)",
			podList(missing), rec.User, strings.Join(rec.Pods, ", "), map[bool]string{true: "it", false: "them"}[len(missing) == 1])
	case len(pods) == 0:
		k.r.unchecked(subject, "acl", fmt.Errorf("no pod of component %s of cluster %s to compare with bootstrap's record", cl.Component, cl.Ref()))
	default:
		k.r.ok(subject, "acl", "user %q: bootstrap gave it to every data pod (%s)", rec.User, strings.Join(pods, ", "))
	}
}

// harborUser is the first Redis username of Harbor's configuration other
// than "default", or "".
func harborUser(users []string) string {
	for _, u := range users {
		if u != "default" {
			return u
		}
	}
	return ""
}

// aclRecord is bootstrap's record of the pods it gave Harbor's user (user,
// "" when the configuration names none), when there is one to compare
// with; otherwise it says why not, if it must.
func (k *checker) aclRecord(subject, user string) (bootstrap.RedisNodes, bool) {
	name := bootstrap.RedisNodesName(k.o.Release)
	cm := k.l.configMapsByName()[name]
	if cm == nil {
		if user != "" {
			k.r.unchecked(subject, "acl", fmt.Errorf("Harbor logs in to Redis as user %q, but there is no record of the pods bootstrap gave it to (ConfigMap %s/%s: bootstrap has not run since it writes one, or the user was made by hand); run helm harborha bootstrap %s --redis-user %s once so that doctor can compare",
				user, k.c.Namespace, name, k.o.Release, user))
		}
		return bootstrap.RedisNodes{}, false
	}
	rec, err := bootstrap.ReadRedisNodes(cm)
	if err != nil {
		k.r.unchecked(subject, "acl", err)
		return rec, false
	}
	if user != "" && user != rec.User {
		k.r.unchecked(subject, "acl", fmt.Errorf("Harbor logs in to Redis as user %q, but bootstrap recorded the pods of user %q (ConfigMap %s/%s); run helm harborha bootstrap %s --redis-user %s so that doctor can compare",
			user, rec.User, k.c.Namespace, name, k.o.Release, user))
		return rec, false
	}
	return rec, true
}

// describePod is "pod (role)", or the pod alone without a role.
func describePod(name, role string) string {
	if role == "" {
		return name
	}
	return name + " (" + role + ")"
}

// podList is "pod p" or "pods p, q".
func podList(pods []string) string {
	if len(pods) == 1 {
		return "pod " + pods[0]
	}
	return "pods " + strings.Join(pods, ", ")
}
