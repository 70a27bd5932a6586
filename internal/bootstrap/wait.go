package bootstrap

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/output"
)

// outcome is what waiting for a Job saw last.
type outcome struct {
	ok      bool   // the Job completed
	reason  string // why it failed: the Job's Failed condition, or a pod stuck for good
	message string
	stuck   bool        // the pod can never start (reason/message say why)
	pod     *corev1.Pod // the Job's newest pod, nil if none was seen
}

// finished reports whether the Job is over, and whether it succeeded.
func finished(j *batchv1.Job) (done, ok bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true
		case batchv1.JobFailed:
			return true, false
		}
	}
	return false, false
}

func failedCondition(j *batchv1.Job) (reason, message string) {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return c.Reason, c.Message
		}
	}
	return "", ""
}

// wait polls the Job and its pod until the Job finishes, its pod is stuck
// for good, or ctx ends; pod state changes go to the progress stream.
func (r *runner) wait(ctx context.Context, j *jobRun) (outcome, error) {
	var out outcome
	created := j.created
	jobs := r.c.Typed.BatchV1().Jobs(created.Namespace)
	selector := labels.SelectorFromSet(labels.Set{"batch.kubernetes.io/job-name": created.Name})
	if created.Spec.Selector != nil { // set by the API server: this Job's pods only
		if s, err := metav1.LabelSelectorAsSelector(created.Spec.Selector); err == nil {
			selector = s
		}
	}
	shown, podsForbidden := "", false
	for {
		cur, err := jobs.Get(ctx, created.Name, metav1.GetOptions{})
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err != nil {
			return out, r.c.Explain(err, kube.Op{Verb: "get", Resource: "jobs", Group: "batch", Namespace: created.Namespace, Name: created.Name})
		}
		done, ok := finished(cur)
		pod, err := r.newestPod(ctx, created.Namespace, selector)
		if err != nil && !podsForbidden {
			podsForbidden = true
			r.say("warning: cannot follow the Job's pod: %s", err)
		}
		if pod != nil {
			out.pod = pod
			if s := podState(pod); s != shown {
				r.say("%s: pod %s %s", j.engine, pod.Name, s)
				shown = s
			}
		}
		if done {
			out.ok = ok
			if !ok {
				out.reason, out.message = failedCondition(cur)
			}
			return out, nil
		}
		if pod != nil {
			if reason, message, stuck := stuckPod(pod); stuck {
				out.reason, out.message, out.stuck = reason, message, true
				return out, nil
			}
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(r.poll):
		}
	}
}

func (r *runner) newestPod(ctx context.Context, ns string, selector labels.Selector) (*corev1.Pod, error) {
	pods, err := r.c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, r.c.Explain(err, kube.Op{Verb: "list", Resource: "pods", Namespace: ns})
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	sort.Slice(pods.Items, func(a, b int) bool {
		return pods.Items[b].CreationTimestamp.Before(&pods.Items[a].CreationTimestamp)
	})
	return &pods.Items[0], nil
}

// podState is a short human description: "Pending (ImagePullBackOff: ...)".
func podState(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if s == "" {
		s = "Pending"
	}
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			return fmt.Sprintf("%s (%s)", s, joinNonEmpty(": ", c.State.Waiting.Reason, c.State.Waiting.Message))
		case c.State.Terminated != nil:
			return fmt.Sprintf("%s (%s, exit code %d)", s, c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return fmt.Sprintf("%s (%s)", s, joinNonEmpty(": ", c.Reason, c.Message))
		}
	}
	return s
}

// stuckPod: reasons that never resolve by waiting (unlike ImagePullBackOff,
// which can be a slow registry).
func stuckPod(p *corev1.Pod) (reason, message string, stuck bool) {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			switch w.Reason {
			case "CreateContainerConfigError", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError":
				return w.Reason, w.Message, true
			}
		}
	}
	return "", "", false
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// readLog reads the Job container's log; on error it says why once and
// returns nothing (the failure is still reported, with less detail).
func (r *runner) readLog(ctx context.Context, j *jobRun, pod *corev1.Pod) []byte {
	if !started(pod) {
		return nil // no container ran: no log to read
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	b, err := r.logs(ctx, pod.Namespace, pod.Name, j.job.Spec.Template.Spec.Containers[0].Name)
	if err != nil {
		r.say("warning: cannot read the log of pod %s/%s: %s", pod.Namespace, pod.Name,
			r.clean(r.c.Explain(err, kube.Op{Verb: "get", Resource: "pods/log", Namespace: pod.Namespace, Name: pod.Name}).Error()))
		return nil
	}
	return b
}

// started reports whether the pod's container ran (its log may say why).
func started(p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil || c.State.Terminated != nil || c.LastTerminationState.Terminated != nil {
			return true
		}
	}
	return false
}

// failed explains a Job that failed, showing the log lines that matter.
func (r *runner) failed(ctx context.Context, j *jobRun, out outcome) error {
	lines := failureLines(r.clean(string(r.readLog(ctx, j, out.pod))))
	for _, l := range lines {
		r.say("%s log: %s", j.engine, l)
	}
	if out.stuck {
		// The pod never ran: nothing to inspect, and nothing would change.
		r.deleteQuietly(j)
		return fmt.Errorf("the %s bootstrap Job %s cannot start its pod (%s): %s; the Job was deleted%s",
			j.engine, j.ref(), out.reason, r.clean(output.OneLine(out.message)), stuckHint(out.reason, j.imageFlag))
	}
	return fmt.Errorf("%s; the Job %s is kept a day for inspection (kubectl -n %s logs job/%s)",
		r.explainFailure(j, lines, out), j.ref(), j.job.Namespace, j.job.Name)
}

func stuckHint(reason, imageFlag string) string {
	switch reason {
	case "CreateContainerConfigError":
		return ": check that the Secrets it reads exist with their keys"
	case "InvalidImageName", "ErrImageNeverPull":
		return "; fix the image with " + imageFlag
	}
	return ""
}

// psqlPrefix is how psql labels messages from a script: "psql:<stdin>:12: ".
var psqlPrefix = regexp.MustCompile(`^psql:<stdin>:\d+: `)

// failureLines are the log lines worth showing after a failure: ours, and
// the errors of psql and redis-cli; else the tail of the log.
func failureLines(log string) []string {
	var keep, all []string
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(psqlPrefix.ReplaceAllString(strings.TrimRight(l, "\r"), ""))
		if l == "" {
			continue
		}
		all = append(all, l)
		for _, m := range []string{"harborha", "ERROR", "FATAL", "HINT", "DETAIL", "error", "WRONGPASS", "NOAUTH", "NOPERM", "Could not connect", "could not"} {
			if strings.Contains(l, m) {
				keep = append(keep, l)
				break
			}
		}
	}
	if len(keep) == 0 {
		keep = all
	}
	if len(keep) > 20 {
		keep = keep[len(keep)-20:]
	}
	return keep
}

// progressLines are the script's own reports of what it did.
func progressLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "harborha:"); i >= 0 {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(l[i:], "harborha:")))
		} else if i := strings.Index(l, "harborha-warning:"); i >= 0 {
			out = append(out, "warning:"+strings.TrimPrefix(l[i:], "harborha-warning:"))
		}
	}
	return out
}

// explainFailure turns the log of a failed Job into one line.
func (r *runner) explainFailure(j *jobRun, lines []string, out outcome) string {
	e := j.endpoint
	su := fmt.Sprintf("Secret %s/%s (keys %q, %q)", e.Namespace, e.Secret.Name, e.Secret.UsernameKey, e.Secret.PasswordKey)
	for i, l := range lines {
		if k := strings.Index(l, "harborha-error: "); k >= 0 {
			msg := l[k+len("harborha-error: "):]
			for _, next := range lines[i+1:] {
				if h := strings.Index(next, "harborha-hint: "); h >= 0 {
					msg += "; " + next[h+len("harborha-hint: "):]
				}
			}
			return msg
		}
		if k := strings.Index(l, "ERROR:  harborha: "); k >= 0 { // raised by postgres.sql
			msg := l[k+len("ERROR:  harborha: "):]
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "HINT:") {
				msg += "; " + strings.TrimSpace(strings.TrimPrefix(lines[i+1], "HINT:"))
			}
			return msg
		}
	}
	for _, l := range lines {
		switch {
		case strings.Contains(l, "password authentication failed"):
			return fmt.Sprintf("%s at %s refused the superuser's password from %s: %s", j.engine, e.addr(), su, afterFatal(l))
		case strings.Contains(l, "no pg_hba.conf entry"):
			return fmt.Sprintf("%s at %s refuses connections from the Job's pod: %s", j.engine, e.addr(), afterFatal(l))
		case strings.Contains(l, "permission denied") || strings.Contains(l, "must be superuser") || strings.Contains(l, "must have"):
			return fmt.Sprintf("the user from %s may not do what bootstrap needs (create roles and databases): %s", su, afterFatal(l))
		case strings.Contains(l, "could not translate host name") || strings.Contains(l, "Connection refused") ||
			strings.Contains(l, "timeout expired") || strings.Contains(l, "could not connect"):
			return fmt.Sprintf("the Job cannot reach %s at %s: %s", j.engine, e.addr(), afterFatal(l))
		}
	}
	for k := len(lines) - 1; k >= 0; k-- {
		if strings.Contains(lines[k], "ERROR") || strings.Contains(lines[k], "FATAL") || strings.Contains(lines[k], "error") {
			return fmt.Sprintf("the %s bootstrap Job %s failed: %s", j.engine, j.ref(), lines[k])
		}
	}
	why := joinNonEmpty(": ", out.reason, out.message)
	if why == "" {
		why = "no reason given"
	}
	if len(lines) == 0 {
		return fmt.Sprintf("the %s bootstrap Job %s failed (%s) and left no log", j.engine, j.ref(), why)
	}
	return fmt.Sprintf("the %s bootstrap Job %s failed (%s): %s", j.engine, j.ref(), why, lines[len(lines)-1])
}

// afterFatal keeps the server's words: "...failed: FATAL:  password ..." →
// "password ...".
func afterFatal(l string) string {
	for _, m := range []string{"FATAL:  ", "ERROR:  ", "psql: error: "} {
		if k := strings.LastIndex(l, m); k >= 0 {
			return l[k+len(m):]
		}
	}
	return l
}

// describe says where a Job that timed out was.
func (o outcome) describe() string {
	if o.pod == nil {
		return " (no pod was created: check the namespace's ResourceQuota and the Job's events)"
	}
	return fmt.Sprintf(" (pod %s: %s)", o.pod.Name, podState(o.pod))
}

func timeoutHint(o outcome, imageFlag, timeoutFlag string) string {
	if o.pod == nil {
		return ""
	}
	state := podState(o.pod)
	switch {
	case strings.Contains(state, "ImagePull") || strings.Contains(state, "ErrImage"):
		return "; the image cannot be pulled: mirror it into a registry the cluster can reach and pass " + imageFlag
	case strings.Contains(state, "Unschedulable"):
		return "; the pod cannot be scheduled (see above)"
	}
	return "; raise " + timeoutFlag + " if the cluster is slow"
}
