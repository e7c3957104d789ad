package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotReplaceable is returned for an output path that is never replaced,
// not even with --force: a device, a named pipe or a socket.
var ErrNotReplaceable = errors.New("not a file, directory or symlink: edgeimg never replaces it")

// CheckDirOutput checks, before any work is done, that an output directory
// may be created at path: a missing path or an empty directory always
// may; a regular file, a symlink (dangling or not: the link is replaced,
// never its target) or a non-empty directory only with force; a device,
// a named pipe or a socket never (/dev/null as root must stay /dev/null).
func CheckDirOutput(path string, force bool) error {
	fi, err := lstatOutput(path)
	if fi == nil || err != nil {
		return err
	}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return fmt.Errorf("output %s: %w", path, err)
		}
		if len(entries) == 0 || force {
			return nil
		}
		return fmt.Errorf("output %s is a non-empty directory: %w", path, ErrExists)
	}
	return checkReplace(path, fi, force)
}

// CheckFileOutput is CheckDirOutput for an output file: a missing path
// may be written; a regular file or a symlink (the link is replaced, not
// its target) only with force; a directory or a special file never.
func CheckFileOutput(path string, force bool) error {
	fi, err := lstatOutput(path)
	if fi == nil || err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("output %s is a directory: edgeimg writes a file there and never replaces a directory with one", path)
	}
	return checkReplace(path, fi, force)
}

// lstatOutput describes what is at an output path without following a
// symlink: nil and no error when nothing is there.
func lstatOutput(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return fi, nil
}

func checkReplace(path string, fi fs.FileInfo, force bool) error {
	switch {
	case fi.Mode().IsRegular():
		if force {
			return nil
		}
		return fmt.Errorf("output %s is a regular file: %w", path, ErrExists)
	case fi.Mode()&fs.ModeSymlink != 0:
		if force {
			return nil
		}
		target, _ := os.Readlink(path)
		state := "a symlink"
		if _, err := os.Stat(path); err != nil {
			state = "a dangling symlink"
		}
		return fmt.Errorf("output %s is %s to %s (--force replaces the link, never its target): %w", path, state, target, ErrExists)
	default:
		return fmt.Errorf("output %s is a %s: %w", path, kind(fi.Mode()), ErrNotReplaceable)
	}
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file (" + m.Type().String() + ")"
}
