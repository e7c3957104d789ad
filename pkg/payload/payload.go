package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"syscall"

	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// File is one file for the node.
type File struct {
	// Path is the absolute destination on the node.
	Path string
	Mode fs.FileMode
	// Data is the content of small files; Source a local file for large
	// ones (the k0s binary, an image bundle). Exactly one is set.
	Data   []byte
	Source string
	// SHA256 (hex) and Size are filled by Seal.
	SHA256 string
	Size   int64
	// hashed identifies the Source file SHA256 was computed from, so a
	// second Seal carries the sum instead of reading the file again.
	hashed sourceID
}

// sourceID identifies the content of a local file without reading it: the
// path, size, modification time and inode it had when it was hashed.
type sourceID struct {
	path  string
	size  int64
	mtime int64
	ino   uint64
}

func statSource(p string) (sourceID, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return sourceID{}, err
	}
	id := sourceID{path: p, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
	}
	return id, nil
}

// Link is a symbolic link on the node.
type Link struct {
	// Path is the absolute link path; Target the absolute path it points
	// to (a file the node's OS provides, e.g. from one of Packages).
	Path, Target string
}

// Payload is the set of files for one node.
type Payload struct {
	Files []File
	// Dirs are local directory trees copied to a node path as a whole
	// (the preloaded containerd root), keyed by node path.
	Dirs map[string]string
	// Links are symbolic links to files of the node's OS.
	Links []Link
	// Packages are the Debian packages the node's OS must have for the
	// payload to work (Links point into them): an image installs them, a
	// deploy checks the links' targets are there.
	Packages []string
}

// AddLink appends a symbolic link.
func (p *Payload) AddLink(nodePath, target string) {
	p.Links = append(p.Links, Link{Path: nodePath, Target: target})
}

// Add appends a file with inline content.
func (p *Payload) Add(nodePath string, mode fs.FileMode, data []byte) {
	p.Files = append(p.Files, File{Path: nodePath, Mode: mode, Data: data})
}

// AddFile appends a file copied from a local path.
func (p *Payload) AddFile(nodePath string, mode fs.FileMode, source string) {
	p.Files = append(p.Files, File{Path: nodePath, Mode: mode, Source: source})
}

// AddDir adds a local directory tree copied to nodePath.
func (p *Payload) AddDir(nodePath, source string) {
	if p.Dirs == nil {
		p.Dirs = map[string]string{}
	}
	p.Dirs[nodePath] = source
}

// Open returns the content of f.
func (f *File) Open() (io.ReadCloser, error) {
	if f.Source != "" {
		return os.Open(f.Source)
	}
	return io.NopCloser(bytes.NewReader(f.Data)), nil
}

// Seal validates the payload and computes each file's size and sha256,
// sorting files by path so every consumer sees the same order. A file
// copied from a local Source is read once: a later Seal carries its sum
// while the file keeps the size, modification time and inode it was hashed
// with. Inline Data is hashed on every call (it is small and may have been
// replaced).
func (p *Payload) Seal() error {
	seen := map[string]bool{}
	for i := range p.Files {
		f := &p.Files[i]
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("payload %q: expected a clean absolute path", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("payload %s: added twice", f.Path)
		}
		seen[f.Path] = true
		if (f.Source == "") == (f.Data == nil) {
			return fmt.Errorf("payload %s: expected exactly one of data or source", f.Path)
		}
		var id sourceID
		if f.Source != "" {
			var err error
			if id, err = statSource(f.Source); err != nil {
				return fmt.Errorf("payload %s: %w", f.Path, err)
			}
			if f.SHA256 != "" && f.hashed == id {
				continue // hashed by an earlier Seal and unchanged since
			}
		}
		r, err := f.Open()
		if err != nil {
			return fmt.Errorf("payload %s: %w", f.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("payload %s: %w", f.Path, err)
		}
		f.Size, f.SHA256, f.hashed = n, hex.EncodeToString(h.Sum(nil)), id
	}
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Path < p.Files[j].Path })
	for _, l := range p.Links {
		for _, q := range []string{l.Path, l.Target} {
			if !path.IsAbs(q) || path.Clean(q) != q {
				return fmt.Errorf("payload link %s -> %s: %q: expected a clean absolute path", l.Path, l.Target, q)
			}
		}
		if seen[l.Path] {
			return fmt.Errorf("payload %s: added twice", l.Path)
		}
		seen[l.Path] = true
	}
	sort.Slice(p.Links, func(i, j int) bool { return p.Links[i].Path < p.Links[j].Path })
	p.Packages = slices.Compact(slices.Sorted(slices.Values(p.Packages)))
	return nil
}

// WriteTree writes every file under root (a root file system being built),
// atomically per file, and every link (replacing what is at its path). Dirs are left to the caller, which knows how to copy
// them (hard links, reflinks, tar).
func (p *Payload) WriteTree(root string) error {
	for i := range p.Files {
		f := &p.Files[i]
		dest := filepath.Join(root, filepath.FromSlash(f.Path))
		err := fsutil.WriteWith(dest, f.Mode, func(w io.Writer) error {
			r, err := f.Open()
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(w, r)
			return err
		})
		if err != nil {
			return fmt.Errorf("payload %s: %w", f.Path, err)
		}
	}
	for _, l := range p.Links {
		dest := filepath.Join(root, filepath.FromSlash(l.Path))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("payload link %s: %w", l.Path, err)
		}
		if err := os.Remove(dest); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("payload link %s: %w", l.Path, err)
		}
		if err := os.Symlink(l.Target, dest); err != nil {
			return fmt.Errorf("payload link %s: %w", l.Path, err)
		}
	}
	return nil
}
