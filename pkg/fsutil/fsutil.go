package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: a temp file in the same
// directory, fsynced, then renamed over path.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith creates path atomically from what fill writes.
func WriteWith(path string, perm fs.FileMode, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrExists is returned when an output exists and overwriting was not asked for.
var ErrExists = errors.New("already exists (use --force to replace it)")

// StageDir prepares an output directory that appears at dest only when
// complete: it returns a temp directory next to dest; commit renames it into
// place and abort removes it. What may be at dest is checked up front and
// again at commit (CheckDirOutput): only a missing path or an empty
// directory is replaced without force, a symlink is replaced as a link
// (its target is never touched), a special file never. Commit refuses once
// ctx is done (an interrupted run), so the caller aborts instead.
func StageDir(ctx context.Context, dest string, force bool) (tmp string, commit func() error, abort func(), err error) {
	if err := CheckDirOutput(dest, force); err != nil {
		return "", nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, nil, err
	}
	parent := filepath.Dir(filepath.Clean(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err = os.MkdirTemp(parent, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return "", nil, nil, fmt.Errorf("create temp dir for %s: %w", dest, err)
	}
	abort = func() { os.RemoveAll(tmp) }
	commit = func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s not written: %w", dest, err)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		if err := CheckDirOutput(dest, force); err != nil {
			return err
		}
		var old string
		fi, err := os.Lstat(dest)
		if err == nil {
			old = tmp + ".old"
			// rename moves a symlink itself, never its target.
			if err := os.Rename(dest, old); err != nil {
				return fmt.Errorf("replace %s: %w", dest, err)
			}
		}
		if err := os.Rename(tmp, dest); err != nil {
			if old != "" {
				os.Rename(old, dest)
			}
			return fmt.Errorf("commit %s: %w", dest, err)
		}
		switch {
		case old == "":
		case fi.IsDir():
			os.RemoveAll(old)
		default:
			os.Remove(old) // a file or a link, never what a link points to
		}
		return nil
	}
	return tmp, commit, abort, nil
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
