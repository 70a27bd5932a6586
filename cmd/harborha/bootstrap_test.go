package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/command"
)

// Argument errors are found before any cluster is contacted: one line,
// exit status 1, nothing on stdout.
func TestBootstrapArgumentErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bootstrap"}, "harborha bootstrap: bootstrap needs the Helm release name, and only that argument: helm harborha bootstrap RELEASE [flags]\n"},
		{[]string{"bootstrap", "a", "b"}, "harborha bootstrap: bootstrap needs the Helm release name, and only that argument: helm harborha bootstrap RELEASE [flags]\n"},
		{[]string{"bootstrap", "myharbor", "--dry-run", "-o", "json"}, "harborha bootstrap: --dry-run prints YAML: drop -o json\n"},
		{[]string{"bootstrap", "myharbor", "-o", "xml"}, "harborha bootstrap: invalid argument \"xml\" for \"-o, --output\" flag: use one of text, json or yaml (see --help)\n"},
		{[]string{"bootstrap", "myharbor", "--timeout", "soon"}, "harborha bootstrap: invalid argument \"soon\" for \"--timeout\" flag: time: invalid duration \"soon\" (see --help)\n"},
		{[]string{"bootstrap", "myharbor", "--no-such-flag"}, "harborha bootstrap: unknown flag: --no-such-flag (see --help)\n"},
		{[]string{"bootstrap", "myharbor", "--rotate=tokens"}, "harborha bootstrap: --rotate: \"tokens\" is not passwords, or core, jobservice, registry, csrf, token, registry-credentials\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), command.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, tc.args)
			if code != 1 || errb.String() != tc.want || out.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit 1, stderr %q", code, errb.String(), out.String(), tc.want)
			}
		})
	}
}

func TestBootstrapHelpListsTheFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), command.Streams{Out: &out, Err: &errb}, []string{"bootstrap", "--help"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, flag := range []string{"--db-user", "--database", "--redis-user", "--rotate", "--psql-image", "--redis-image", "--timeout", "--dry-run", "--pg", "--redis", "--kube-context"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}
