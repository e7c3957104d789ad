// Package rootfs composes the root file system of an image as one tar
// stream: the Debian base tarball, filtered and overlaid with edgeimg's
// files, the payload and whole directory trees (the preloaded containerd
// root), without extracting anything. mke2fs -d reads the result.
//
// The output is deterministic: base entries keep their order and headers,
// added entries follow sorted by path with their times set to the given
// epoch, so the same inputs give the same bytes.
package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kind of an entry.
type Kind int

// Entry kinds.
const (
	File Kind = iota
	Dir
	Symlink
	Hardlink
)

// Entry is one file system object to add or replace.
type Entry struct {
	Kind Kind
	Mode fs.FileMode // permission bits (and setuid/setgid/sticky)
	UID  int
	GID  int
	// Data or Source is the content of a File; Source is a host path.
	Data   []byte
	Source string
	Size   int64
	// Target is the link target of a Symlink, or the node path a Hardlink
	// points to.
	Target string
	Xattrs map[string]string
	// ModTime, when zero, is the compose epoch.
	ModTime time.Time
}

// Tree is what goes on top of the base.
type Tree struct {
	entries map[string]*Entry
	remove  []string
}

// NewTree returns an empty Tree.
func NewTree() *Tree { return &Tree{entries: map[string]*Entry{}} }

func clean(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("rootfs: %q: expected an absolute path", p)
	}
	return path.Clean(p), nil
}

// Set adds or replaces the entry at node path p.
func (t *Tree) Set(p string, e *Entry) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	if e.Kind == File && e.Source != "" && e.Size == 0 {
		fi, err := os.Stat(e.Source)
		if err != nil {
			return fmt.Errorf("rootfs %s: %w", p, err)
		}
		e.Size = fi.Size()
	}
	if e.Kind == File && e.Source == "" {
		e.Size = int64(len(e.Data))
	}
	t.entries[p] = e
	return nil
}

// AddFile adds a root-owned file with inline content.
func (t *Tree) AddFile(p string, mode fs.FileMode, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return t.Set(p, &Entry{Kind: File, Mode: mode, Data: data})
}

// AddSource adds a root-owned file copied from a host file.
func (t *Tree) AddSource(p string, mode fs.FileMode, src string) error {
	return t.Set(p, &Entry{Kind: File, Mode: mode, Source: src})
}

// AddDir adds a root-owned directory.
func (t *Tree) AddDir(p string, mode fs.FileMode) error {
	return t.Set(p, &Entry{Kind: Dir, Mode: mode})
}

// AddSymlink adds a symbolic link.
func (t *Tree) AddSymlink(p, target string) error {
	return t.Set(p, &Entry{Kind: Symlink, Mode: 0o777, Target: target})
}

// Remove drops base entries whose path matches pattern (path.Match syntax,
// or a directory path ending in "/**" for a whole subtree).
func (t *Tree) Remove(pattern string) { t.remove = append(t.remove, pattern) }

// Get returns the entry added at p.
func (t *Tree) Get(p string) (*Entry, bool) {
	e, ok := t.entries[path.Clean(p)]
	return e, ok
}

func (t *Tree) removed(p string) bool {
	if _, added := t.entries[p]; added {
		return false
	}
	for _, pat := range t.remove {
		if dir, ok := strings.CutSuffix(pat, "/**"); ok {
			if p == dir || strings.HasPrefix(p, dir+"/") {
				return true
			}
			continue
		}
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// AddHostTree adds the directory tree at hostDir under node path p,
// keeping modes, ownership, symlinks, hard links and extended attributes.
// Device nodes, sockets and FIFOs are refused.
func (t *Tree) AddHostTree(p, hostDir string) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	inodes := map[[2]uint64]string{}
	return filepath.WalkDir(hostDir, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		rel, err := filepath.Rel(hostDir, hp)
		if err != nil {
			return err
		}
		np := path.Join(p, filepath.ToSlash(rel))
		fi, err := os.Lstat(hp)
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("rootfs: %s: no ownership information", hp)
		}
		e := &Entry{Mode: fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), UID: int(st.Uid), GID: int(st.Gid)}
		e.Xattrs, err = readXattrs(hp)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			e.Kind = Dir
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Kind = Symlink
			if e.Target, err = os.Readlink(hp); err != nil {
				return fmt.Errorf("rootfs: %w", err)
			}
		case fi.Mode().IsRegular():
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := inodes[key]; ok && st.Nlink > 1 {
				e.Kind, e.Target = Hardlink, first
			} else {
				inodes[key] = np
				e.Kind, e.Source, e.Size = File, hp, fi.Size()
			}
		default:
			return fmt.Errorf("rootfs: %s: %s is not supported in a payload tree (only files, directories and links)", hp, fi.Mode().Type())
		}
		t.entries[np] = e
		return nil
	})
}

func readXattrs(p string) (map[string]string, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("rootfs: xattrs of %s: %w", p, err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("rootfs: xattr %s of %s: %w", name, p, err)
		}
		v := make([]byte, vsz)
		if vsz > 0 {
			if vsz, err = unix.Lgetxattr(p, name, v); err != nil {
				return nil, fmt.Errorf("rootfs: xattr %s of %s: %w", name, p, err)
			}
		}
		out[name] = string(v[:vsz])
	}
	return out, nil
}

// Stats counts what a composed tree holds, to size the file system.
type Stats struct {
	Entries int64 // inodes
	Bytes   int64 // regular file content
	Blocks  int64 // 4 KiB blocks for content, directories and long symlinks
	// Xattrs lists every extended attribute in the tree, in tar order
	// (mke2fs -d <tar> does not apply them; the image step sets them).
	Xattrs []Xattr
}

// Xattr is one extended attribute of a path in the tree.
type Xattr struct {
	Path, Name, Value string
}

func (s *Stats) add(h *tar.Header) {
	var names []string
	for k := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		s.Xattrs = append(s.Xattrs, Xattr{Path: nodePath(h.Name), Name: n, Value: h.PAXRecords["SCHILY.xattr."+n]})
	}
	s.Entries++
	switch h.Typeflag {
	case tar.TypeReg:
		s.Bytes += h.Size
		s.Blocks += (h.Size + 4095) / 4096
	case tar.TypeDir:
		s.Blocks++
	case tar.TypeSymlink:
		if len(h.Linkname) > 59 {
			s.Blocks++
		}
	case tar.TypeLink:
		s.Entries-- // same inode
	}
}

func tarName(p string) string {
	if p == "/" {
		return "./"
	}
	return "." + p
}

func nodePath(name string) string {
	return path.Clean("/" + strings.TrimPrefix(name, "./"))
}

// Compose writes the base tarball (filtered and overlaid by t) followed by
// t's remaining entries to w, and returns what it holds. Added entries and
// their missing parent directories get the epoch as their time.
func Compose(w io.Writer, baseTar string, t *Tree, epoch time.Time) (Stats, error) {
	var st Stats
	tw := tar.NewWriter(w)
	emitted := map[string]bool{}
	dirs := map[string]bool{"/": true}

	if baseTar != "" {
		f, err := os.Open(baseTar)
		if err != nil {
			return st, fmt.Errorf("rootfs: %w", err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return st, fmt.Errorf("rootfs: read %s: %w", baseTar, err)
			}
			p := nodePath(h.Name)
			if t.removed(p) {
				continue
			}
			if h.Typeflag == tar.TypeLink && t.removed(nodePath(h.Linkname)) {
				continue
			}
			if e, ok := t.entries[p]; ok {
				if err := writeEntry(tw, p, e, epoch, &st); err != nil {
					return st, err
				}
				emitted[p] = true
				if e.Kind == Dir {
					dirs[p] = true
				}
				continue
			}
			if h.Typeflag == tar.TypeDir {
				dirs[p] = true
			}
			st.add(h)
			if err := tw.WriteHeader(h); err != nil {
				return st, fmt.Errorf("rootfs: %s: %w", p, err)
			}
			if h.Typeflag == tar.TypeReg {
				if _, err := io.Copy(tw, tr); err != nil {
					return st, fmt.Errorf("rootfs: %s: %w", p, err)
				}
			}
		}
	}

	var rest []string
	for p := range t.entries {
		if !emitted[p] {
			rest = append(rest, p)
		}
	}
	sort.Strings(rest)
	for _, p := range rest {
		if err := ensureParents(tw, p, dirs, t, emitted, epoch, &st); err != nil {
			return st, err
		}
		if emitted[p] {
			continue
		}
		e := t.entries[p]
		if err := writeEntry(tw, p, e, epoch, &st); err != nil {
			return st, err
		}
		emitted[p] = true
		if e.Kind == Dir {
			dirs[p] = true
		}
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("rootfs: %w", err)
	}
	return st, nil
}

func ensureParents(tw *tar.Writer, p string, dirs map[string]bool, t *Tree, emitted map[string]bool, epoch time.Time, st *Stats) error {
	parent := path.Dir(p)
	if dirs[parent] {
		return nil
	}
	if err := ensureParents(tw, parent, dirs, t, emitted, epoch, st); err != nil {
		return err
	}
	e, ok := t.entries[parent]
	if !ok {
		e = &Entry{Kind: Dir, Mode: 0o755}
	} else if e.Kind != Dir {
		return fmt.Errorf("rootfs: %s: parent %s is not a directory", p, parent)
	}
	if err := writeEntry(tw, parent, e, epoch, st); err != nil {
		return err
	}
	emitted[parent] = true
	dirs[parent] = true
	return nil
}

func writeEntry(tw *tar.Writer, p string, e *Entry, epoch time.Time, st *Stats) error {
	mt := e.ModTime
	if mt.IsZero() || mt.After(epoch) {
		mt = epoch
	}
	h := &tar.Header{
		Name:    tarName(p),
		Mode:    int64(e.Mode.Perm()),
		Uid:     e.UID,
		Gid:     e.GID,
		ModTime: mt,
	}
	if e.Mode&fs.ModeSetuid != 0 {
		h.Mode |= 0o4000
	}
	if e.Mode&fs.ModeSetgid != 0 {
		h.Mode |= 0o2000
	}
	if e.Mode&fs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	if len(e.Xattrs) > 0 {
		h.PAXRecords = map[string]string{}
		for k, v := range e.Xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	switch e.Kind {
	case Dir:
		h.Typeflag = tar.TypeDir
		h.Name += "/"
	case Symlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
	case Hardlink:
		h.Typeflag, h.Linkname = tar.TypeLink, tarName(e.Target)
	case File:
		h.Typeflag, h.Size = tar.TypeReg, e.Size
	}
	st.add(h)
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("rootfs: %s: %w", p, err)
	}
	if e.Kind != File {
		return nil
	}
	var r io.Reader
	if e.Source != "" {
		f, err := os.Open(e.Source)
		if err != nil {
			return fmt.Errorf("rootfs: %s: %w", p, err)
		}
		defer f.Close()
		r = f
	} else {
		r = strings.NewReader(string(e.Data))
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("rootfs: %s: %w", p, err)
	}
	if n != e.Size {
		return fmt.Errorf("rootfs: %s: %s changed size while being copied (%d, expected %d)", p, e.Source, n, e.Size)
	}
	return nil
}

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
