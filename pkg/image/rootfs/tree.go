package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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
