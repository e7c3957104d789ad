package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

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
