package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
)

// Index is the content of selected files of a tarball plus every path in it.
type Index struct {
	// Headers holds the header of every entry by node path.
	Headers map[string]*tar.Header
	// Files holds the content of the regular files the capture function
	// selected, by node path.
	Files map[string][]byte
}

// ReadIndex reads a tarball once, keeping every header and the content of
// regular files for which capture returns true.
func ReadIndex(tarPath string, capture func(p string) bool) (*Index, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	defer f.Close()
	ix := &Index{Headers: map[string]*tar.Header{}, Files: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ix, nil
		}
		if err != nil {
			return nil, fmt.Errorf("rootfs: read %s: %w", tarPath, err)
		}
		p := nodePath(h.Name)
		ix.Headers[p] = h
		if h.Typeflag == tar.TypeReg && capture != nil && capture(p) {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("rootfs: read %s: %w", p, err)
			}
			ix.Files[p] = data
		}
	}
}

// Resolve follows symlinks (within the index) from p to a regular file's
// path, up to 16 hops.
func (ix *Index) Resolve(p string) (string, bool) {
	for range 16 {
		h, ok := ix.Headers[p]
		if !ok {
			return "", false
		}
		switch h.Typeflag {
		case tar.TypeReg:
			return p, true
		case tar.TypeSymlink:
			if path.IsAbs(h.Linkname) {
				p = path.Clean(h.Linkname)
			} else {
				p = path.Join(path.Dir(p), h.Linkname)
			}
		case tar.TypeLink:
			p = nodePath(h.Linkname)
		default:
			return "", false
		}
	}
	return "", false
}

// Glob returns the index paths matching pattern, sorted.
func (ix *Index) Glob(pattern string) []string {
	var out []string
	for p := range ix.Headers {
		if ok, _ := path.Match(pattern, p); ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
