package manifest

import "strings"

// split cuts a stream into documents exactly where Helm's
// releaseutil.SplitManifests does (the separator is the regexp
// `(?:^|\s*\n)---\s*`, and each piece is trimmed), in stream order, empty
// pieces left out. It is Helm's algorithm without Helm's packages: the
// import of pkg/releaseutil drags in Helm's chart loader and JSON-schema
// validator, whose initialisation alone took longer than a whole
// post-render. FuzzSplit checks it against releaseutil on every input.
func split(stream string) []string {
	s := strings.TrimSpace(stream)
	var docs []string
	start, from := 0, 0
	if strings.HasPrefix(s, "---") {
		start = skipSpace(s, 3)
		from = start
	}
	for {
		j := strings.Index(s[from:], "\n---")
		if j < 0 {
			break
		}
		j += from
		docs = appendPiece(docs, s[start:j])
		start = skipSpace(s, j+4)
		from = start
	}
	return appendPiece(docs, s[start:])
}

func appendPiece(docs []string, piece string) []string {
	if piece == "" {
		return docs
	}
	return append(docs, strings.TrimSpace(piece))
}

// skipSpace returns the index after the white space at s[i:], as the
// separator's trailing \s* consumes it (RE2's \s: space, \t, \n, \f, \r).
func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\n\f\r", s[i]) >= 0 {
		i++
	}
	return i
}
