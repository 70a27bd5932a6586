package doctor

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Status is the outcome of one check.
type Status string

const (
	OK        Status = "ok"
	Finding   Status = "finding"   // not highly available now: exit status 1
	Warning   Status = "warning"   // worth knowing, fails nothing (a single trivy pod)
	Unchecked Status = "unchecked" // could not be checked (RBAC, API): exit status 2 unless a finding
)

// Check is one check of one subject: a Harbor component ("core") or a
// KubeBlocks cluster ("PostgreSQL harbor/mypg").
type Check struct {
	Subject string `json:"subject"`
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Report is what doctor found: every check, then the drill's results.
type Report struct {
	Release   string        `json:"release"`
	Namespace string        `json:"namespace"`
	Checks    []Check       `json:"checks"`
	Drill     []DrillResult `json:"drill,omitempty"`

	subjects []string      // in the order they were first checked
	targets  []drillTarget // the components, for the drill
	clusters []*target     // the KubeBlocks clusters Harbor uses, one each, for the drill
	harbor   harborAccess  // where Harbor is and where its admin password is, for the drill's probe
}

// add records a check; subjects keep the order of their first check.
func (r *Report) add(c Check) {
	if !slices.Contains(r.subjects, c.Subject) {
		r.subjects = append(r.subjects, c.Subject)
	}
	r.Checks = append(r.Checks, c)
}

func (r *Report) ok(subject, check, format string, args ...any) {
	r.add(Check{Subject: subject, Check: check, Status: OK, Message: fmt.Sprintf(format, args...)})
}

func (r *Report) finding(subject, check, fix, format string, args ...any) {
	r.add(Check{Subject: subject, Check: check, Status: Finding, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (r *Report) unchecked(subject, check string, err error) {
	r.add(Check{Subject: subject, Check: check, Status: Unchecked, Message: err.Error()})
}

// statuses are every status of the report, the drill's included.
func (r *Report) statuses() []Status {
	var out []Status
	for _, c := range r.Checks {
		out = append(out, c.Status)
	}
	for _, d := range r.Drill {
		out = append(out, d.Status)
	}
	return out
}

// Code is the exit status: 1 with any finding, else 2 when something
// could not be checked, else 0.
func (r *Report) Code() int {
	st := r.statuses()
	switch {
	case slices.Contains(st, Finding):
		return ExitFindings
	case slices.Contains(st, Unchecked):
		return ExitUnverified
	}
	return ExitHealthy
}

// summary counts the statuses: "2 findings, 1 unchecked, 23 ok".
func (r *Report) summary() string {
	counts := map[Status]int{}
	for _, s := range r.statuses() {
		counts[s]++
	}
	var parts []string
	for _, s := range []Status{Finding, Warning, Unchecked, OK} {
		if n := counts[s]; n > 0 {
			name := string(s)
			if n > 1 && s != Unchecked && s != OK {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteText writes the report for people: a summary line, then the checks
// grouped by subject, each with its fix when it has one, in columns
// aligned across the whole report.
func (r *Report) WriteText(out io.Writer) error {
	b := &errWriter{w: out}
	fmt.Fprintf(b, "Harbor release %s in namespace %s: %s\n", r.Release, r.Namespace, r.summary())
	sw, cw := len(Unchecked), 0
	for _, c := range r.Checks {
		cw = max(cw, len(c.Check))
	}
	for _, s := range r.subjects {
		fmt.Fprintf(b, "\n%s\n", s)
		for _, c := range r.Checks {
			if c.Subject != s {
				continue
			}
			fmt.Fprintf(b, "  %-*s  %-*s  %s\n", sw, c.Status, cw, c.Check, c.Message)
			if c.Fix != "" {
				fmt.Fprintf(b, "  %*s  fix: %s\n", sw+2+cw, "", c.Fix)
			}
		}
	}
	writeDrill(b, r.Drill)
	return b.err
}

// errWriter keeps the first error of a series of writes, and writes
// nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
