package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Stdin is the input name that reads standard input.
const Stdin = "-"

// source is one input stream and the name messages use for it.
type source struct {
	name string // file path, "<stdin>", or "" for a stream rendered here
	data []byte
}

// stream is the parsed input: documents in input order and where each
// came from.
type stream struct {
	docs  []*manifest.Doc
	where map[*manifest.Doc]Location
	order map[*manifest.Doc]int
	// maxConnections is the database's max_connections when the user gave
	// it (--database-max-connections), else 0.
	maxConnections int
}

// readSources reads the inputs: files, directories (every *.yaml and *.yml
// below them, in lexical order, as `helm template --output-dir` leaves
// them) and "-" for stdin.
func readSources(inputs []string, stdin io.Reader) ([]source, error) {
	var out []source
	usedStdin := false
	for _, in := range inputs {
		if in == Stdin {
			if usedStdin {
				return nil, errors.New(`"-" (stdin) is given twice; stdin can be read once`)
			}
			usedStdin = true
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %v", err)
			}
			out = append(out, source{name: "<stdin>", data: b})
			continue
		}
		st, err := os.Stat(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %s; give a manifest file, a directory of them, or - for stdin", in, pathReason(err))
		}
		if !st.IsDir() {
			b, err := os.ReadFile(in)
			if err != nil {
				return nil, fmt.Errorf("%s: %s", in, pathReason(err))
			}
			out = append(out, source{name: in, data: b})
			continue
		}
		files, err := yamlFiles(in)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml or *.yml files in the directory", in)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %s", f, pathReason(err))
			}
			out = append(out, source{name: f, data: b})
		}
	}
	return out, nil
}

// yamlFiles lists the *.yaml and *.yml files under dir, sorted.
func yamlFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %s", p, pathReason(err))
		}
		if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseSources parses every source with manifest.Parse (Helm's splitting)
// and records each document's file and line. An object may appear once
// across all of them.
func parseSources(srcs []source) (*stream, error) {
	s := &stream{where: map[*manifest.Doc]Location{}, order: map[*manifest.Doc]int{}}
	first := map[manifest.ID]string{}
	for _, src := range srcs {
		docs, err := manifest.Parse(src.data)
		if err != nil {
			return nil, withSource(src, err)
		}
		lines := startLines(string(src.data))
		for _, d := range docs {
			loc := Location{File: src.name, Line: lines[d.Pos], Template: templateOf(d)}
			if prev, dup := first[d.ID()]; dup {
				return nil, fmt.Errorf("%s: %s is also at %s; each object may appear once", loc, d.ID(), prev)
			}
			first[d.ID()] = loc.String()
			s.where[d] = loc
			s.order[d] = len(s.docs)
			s.docs = append(s.docs, d)
		}
	}
	return s, nil
}

// withSource names the input in a parse error ("document 3: ..."), with
// the document's line when the error names one.
func withSource(src source, err error) error {
	if src.name == "" {
		return err
	}
	msg := err.Error()
	var pos int
	if _, scanErr := fmt.Sscanf(msg, "document %d", &pos); scanErr == nil {
		if line := startLines(string(src.data))[pos]; line > 0 {
			return fmt.Errorf("%s:%d: %s", src.name, line, msg)
		}
	}
	return fmt.Errorf("%s: %s", src.name, msg)
}

// sourceRE is Helm 3's comment naming the template a document came from.
var sourceRE = regexp.MustCompile(`(?m)^#\s*Source:\s*(\S.*?)\s*$`)

// templateOf is the chart template that rendered a document, if the stream
// says so (Helm 3 comment, or Helm 4 annotation).
func templateOf(d *manifest.Doc) string {
	if m := sourceRE.FindStringSubmatch(d.Head()); m != nil {
		return m[1]
	}
	return d.Obj.GetAnnotations()[manifest.FilenameAnnotation]
}

// helmSep is releaseutil's document separator: startLines must cut the
// stream exactly where manifest.Parse (through Helm) does.
var helmSep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

// startLines maps a document position as manifest.Parse numbers it
// (1-based, counting every non-empty part) to the line its text starts on.
// It mirrors releaseutil.SplitManifests and regexp.Split step by step.
func startLines(stream string) map[int]int {
	trimmed := strings.TrimSpace(stream)
	lead := len(stream) - len(strings.TrimLeft(stream, " \t\r\n\v\f"))
	lines := map[int]int{}
	pos := 0
	addPart := func(from, to int) {
		part := trimmed[from:to]
		if part == "" {
			return
		}
		pos++
		ws := len(part) - len(strings.TrimLeft(part, " \t\r\n\v\f"))
		lines[pos] = 1 + bytes.Count([]byte(stream[:lead+from+ws]), []byte("\n"))
	}
	if trimmed == "" {
		return lines
	}
	beg, end := 0, 0
	for _, m := range helmSep.FindAllStringIndex(trimmed, -1) {
		end = m[0]
		if m[1] != 0 {
			addPart(beg, end)
		}
		beg = m[1]
	}
	if end != len(trimmed) {
		addPart(beg, len(trimmed))
	}
	return lines
}
