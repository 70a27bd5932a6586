package command

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// fake records what Execute hands it.
type fake struct {
	n    int
	args []string
	ran  bool
}

func (f *fake) AddFlags(fs *pflag.FlagSet)   { fs.IntVar(&f.n, "n", 0, "a number") }
func (f *fake) Complete(args []string) error { f.args = args; return nil }
func (f *fake) Validate() error              { return nil }
func (f *fake) Run(context.Context, Streams) error {
	f.ran = true
	return &ExitError{Code: 3}
}

type passing struct{ fake }

func (*passing) PassesThrough() {}

func TestExecute(t *testing.T) {
	var out bytes.Buffer
	f := &fake{}
	if err := Execute(context.Background(), f, "Usage: fake\n", []string{"--help"}, Streams{Out: &out}); err != nil || f.ran {
		t.Fatalf("help: %v, ran %v", err, f.ran)
	}
	if !strings.HasPrefix(out.String(), "Usage: fake\n") || !strings.Contains(out.String(), "--n int") {
		t.Errorf("help is the text, then the flags: %q", out.String())
	}
	err := Execute(context.Background(), &fake{}, "", []string{"--n", "x"}, Streams{})
	if err == nil || !strings.HasSuffix(err.Error(), "(see --help)") {
		t.Errorf("a bad flag: %v", err)
	}
	f = &fake{}
	err = Execute(context.Background(), f, "", []string{"a", "--n=2", "b"}, Streams{})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || f.n != 2 || !reflect.DeepEqual(f.args, []string{"a", "b"}) {
		t.Errorf("a run: %v, n %d, args %q", err, f.n, f.args)
	}
	p := &passing{}
	if err := Execute(context.Background(), p, "", []string{"rel", "--n=2", "--wait"}, Streams{}); !errors.As(err, &exit) || !reflect.DeepEqual(p.args, []string{"rel", "--n=2", "--wait"}) {
		t.Errorf("a command that reads its own arguments gets them as given: %q, %v", p.args, err)
	}
	if _, err := OneArg([]string{"a", "b"}, "needs RELEASE"); err == nil || err.Error() != "needs RELEASE" {
		t.Errorf("OneArg: %v", err)
	}
	if err := NoArgs([]string{"x"}); err == nil || !strings.Contains(err.Error(), `unexpected argument "x"`) {
		t.Errorf("NoArgs: %v", err)
	}
}
