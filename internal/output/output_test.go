package output

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

type result struct {
	Name string `json:"name"`
	fail bool
}

func (r result) WriteText(out io.Writer) error {
	if r.fail {
		io.WriteString(out, "half a table")
		return errors.New("broken")
	}
	_, err := io.WriteString(out, "NAME\n"+r.Name+"\n")
	return err
}

func TestWrite(t *testing.T) {
	tests := []struct {
		f    Format
		want string
	}{
		{Text, "NAME\nx\n"},
		{JSON, "{\n  \"name\": \"x\"\n}\n"},
		{YAML, "name: x\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := tt.f.Write(&b, result{Name: "x"}); err != nil || b.String() != tt.want {
			t.Errorf("-o %s: %q, %v; want %q", tt.f, b.String(), err, tt.want)
		}
	}
	var b bytes.Buffer
	if err := Text.Write(&b, result{fail: true}); err == nil || b.Len() != 0 {
		t.Errorf("a failed write left %q (err %v): output must be whole or nothing", b.String(), err)
	}
	if err := SARIF.Write(&b, result{}); err == nil || b.Len() != 0 {
		t.Errorf("a format the result has no form for: %v, %q", err, b.String())
	}
}

func TestFlag(t *testing.T) {
	tests := []struct {
		args    []string
		want    Format
		wantErr string
	}{
		{nil, Text, ""},
		{[]string{"-o", "json"}, JSON, ""},
		{[]string{"--output=YAML"}, YAML, ""},
		{[]string{"-o", "table"}, Text, ""}, // discover's old name for text
		{[]string{"-o", "sarif"}, "", `invalid argument "sarif" for "-o, --output" flag: use one of text, json or yaml`},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f Format
		AddFlag(fs, &f, "", Text, JSON, YAML)
		err := fs.Parse(tt.args)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.wantErr)
			}
		case err != nil || f != tt.want:
			t.Errorf("%q: %q, %v; want %q", tt.args, f, err, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine("a\n  b\tc \n"); got != "a b c" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 pods", 1: "1 pod", 2: "2 pods"} {
		if got := Count(n, "pod"); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}
