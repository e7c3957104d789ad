package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// outputCase builds what is at path before an output is written there.
type outputCase struct {
	name  string
	setup func(t *testing.T, path string)
	// errors without and with force (nil: allowed)
	plain, forced error
	want          string // in the refusal
}

func outputCases(target string) []outputCase {
	return []outputCase{
		{"missing", func(*testing.T, string) {}, nil, nil, ""},
		{"empty dir", func(t *testing.T, p string) { must(t, os.Mkdir(p, 0o755)) }, nil, nil, ""},
		{"non-empty dir", func(t *testing.T, p string) {
			must(t, os.Mkdir(p, 0o755))
			must(t, os.WriteFile(filepath.Join(p, "keep"), []byte("mine"), 0o644))
		}, ErrExists, nil, "is a non-empty directory"},
		{"regular file", func(t *testing.T, p string) { must(t, os.WriteFile(p, []byte("mine"), 0o644)) }, ErrExists, nil, "is a regular file"},
		{"dangling symlink", func(t *testing.T, p string) { must(t, os.Symlink(filepath.Join(target, "nowhere"), p)) }, ErrExists, nil, "is a dangling symlink to"},
		{"symlink to a dir", func(t *testing.T, p string) { must(t, os.Symlink(target, p)) }, ErrExists, nil, "is a symlink to " + target},
		{"named pipe", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o644)) }, ErrNotReplaceable, ErrNotReplaceable, "is a named pipe"},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestStageDirOutputs: every kind of existing output, with and without
// force, through the up-front check and the commit; what is refused is
// left exactly as it was, and a symlink's target is never touched.
func TestStageDirOutputs(t *testing.T) {
	for _, force := range []bool{false, true} {
		for _, tt := range outputCases("") {
			t.Run(tt.name+map[bool]string{true: " force"}[force], func(t *testing.T) {
				dir := t.TempDir()
				target := filepath.Join(dir, "target")
				must(t, os.Mkdir(target, 0o755))
				must(t, os.WriteFile(filepath.Join(target, "precious"), []byte("mine"), 0o644))
				tt = outputCases(target)[indexOf(tt.name)]
				dest := filepath.Join(dir, "out")
				tt.setup(t, dest)
				before := describe(dest)
				want := tt.plain
				if force {
					want = tt.forced
				}

				err := CheckDirOutput(dest, force)
				if !errors.Is(err, want) || (err == nil) != (want == nil) {
					t.Fatalf("CheckDirOutput = %v, want %v", err, want)
				}
				if err != nil && (!strings.Contains(err.Error(), dest) || !strings.Contains(err.Error(), tt.want)) {
					t.Errorf("error %q does not name %s and %q", err, dest, tt.want)
				}
				tmp, commit, abort, err := StageDir(context.Background(), dest, force)
				if !errors.Is(err, want) || (err == nil) != (want == nil) {
					t.Fatalf("StageDir = %v, want %v", err, want)
				}
				if err != nil {
					if got := describe(dest); got != before {
						t.Errorf("refused output changed: %s, was %s", got, before)
					}
				} else {
					must(t, os.WriteFile(filepath.Join(tmp, "new"), []byte("new"), 0o644))
					if err := commit(); err != nil {
						abort()
						t.Fatalf("commit: %v", err)
					}
					if fi, err := os.Lstat(filepath.Join(dest, "new")); err != nil || !fi.Mode().IsRegular() {
						t.Errorf("committed output: %v", err)
					}
					if fi, _ := os.Lstat(dest); !fi.IsDir() {
						t.Errorf("%s is %v, want a directory", dest, fi.Mode())
					}
				}
				if data, err := os.ReadFile(filepath.Join(target, "precious")); err != nil || string(data) != "mine" {
					t.Errorf("symlink target touched: %q, %v", data, err)
				}
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if strings.Contains(e.Name(), ".tmp-") {
						t.Errorf("left behind: %s", e.Name())
					}
				}
			})
		}
	}
}

func indexOf(name string) int {
	for i, c := range outputCases("") {
		if c.name == name {
			return i
		}
	}
	panic(name)
}

// describe is what a test compares before and after: type and content.
func describe(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "missing"
	}
	s := fi.Mode().Type().String()
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		l, _ := os.Readlink(path)
		s += " -> " + l
	case fi.IsDir():
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			s += " " + e.Name()
		}
	case fi.Mode().IsRegular():
		data, _ := os.ReadFile(path)
		s += " " + string(data)
	}
	return s
}

// TestCheckDevNull: a device is never an output, with or without force
// (as root, replacing /dev/null would break the machine).
func TestCheckDevNull(t *testing.T) {
	if _, err := os.Lstat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	for _, force := range []bool{false, true} {
		if err := CheckDirOutput("/dev/null", force); !errors.Is(err, ErrNotReplaceable) || !strings.Contains(err.Error(), "/dev/null is a character device") {
			t.Errorf("CheckDirOutput(/dev/null, %v) = %v", force, err)
		}
		if err := CheckFileOutput("/dev/null", force); !errors.Is(err, ErrNotReplaceable) {
			t.Errorf("CheckFileOutput(/dev/null, %v) = %v", force, err)
		}
		if _, _, _, err := StageDir(context.Background(), "/dev/null", force); !errors.Is(err, ErrNotReplaceable) {
			t.Errorf("StageDir(/dev/null, %v) = %v", force, err)
		}
	}
}

func TestCheckFileOutput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	must(t, os.WriteFile(file, nil, 0o644))
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(filepath.Join(dir, "nowhere"), link))
	tests := []struct {
		path          string
		plain, forced string // "" allowed
	}{
		{filepath.Join(dir, "missing"), "", ""},
		{file, "is a regular file", ""},
		{link, "is a dangling symlink", ""},
		{dir, "is a directory", "is a directory"},
	}
	for _, tt := range tests {
		for force, want := range map[bool]string{false: tt.plain, true: tt.forced} {
			err := CheckFileOutput(tt.path, force)
			if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("CheckFileOutput(%s, %v) = %v, want %q", tt.path, force, err, want)
			}
		}
	}
}

// TestStageDirInterrupted: once the context is done, commit refuses and
// the caller's abort leaves nothing.
func TestStageDirInterrupted(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "out")
	ctx, cancel := context.WithCancel(context.Background())
	tmp, commit, abort, err := StageDir(ctx, dest, false)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(tmp, "f"), nil, 0o644))
	cancel()
	if err := commit(); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit after cancel = %v", err)
	}
	abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
