// Package release writes the project's release files (make dist): one
// archive per platform, which the plugin's install hook downloads, the two
// Helm 4 plugin archives with their provenance, and checksums.txt. Same
// inputs, same bytes: entries sorted, fixed modification time, owner 0,
// no gzip name or time.
package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"time"
)

// Entry is one regular file of an archive; its directories are implied.
type Entry struct {
	Name string // slash-separated, relative
	Mode int64  // permission bits
	Data []byte
}

// TarGz writes entries as a gzipped tar: every parent directory gets its
// own entry before its files (Helm 3's extractor creates no parents), all
// sorted by name, owned by 0:0, modified at mtime.
func TarGz(w io.Writer, entries []Entry, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, h := range headers(entries, mtime.UTC().Truncate(time.Second)) {
		if err := tw.WriteHeader(h.Header); err != nil {
			return err
		}
		if _, err := tw.Write(h.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

type header struct {
	*tar.Header
	data []byte
}

// headers lists the tar headers of entries and of their directories,
// sorted by name.
func headers(entries []Entry, mtime time.Time) []header {
	byName := map[string]header{}
	for _, e := range entries {
		byName[e.Name] = header{fileHeader(e.Name, tar.TypeReg, e.Mode, int64(len(e.Data)), mtime), e.Data}
		for dir := path.Dir(e.Name); dir != "."; dir = path.Dir(dir) {
			byName[dir+"/"] = header{fileHeader(dir+"/", tar.TypeDir, 0o755, 0, mtime), nil}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]header, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

func fileHeader(name string, typ byte, mode, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
}

// Checksums is a sha256sum-format listing of files (name -> sha256 hex),
// sorted by name.
func Checksums(sums map[string]string) []byte {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return b.Bytes()
}

// SHA256 is the hex sha256 of data.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
