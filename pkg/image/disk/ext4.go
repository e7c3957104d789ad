package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// Ext4 says how to make the root file system.
type Ext4 struct {
	Tools *tools.Tree
	// UUID is the file system UUID, also used as the directory hash seed.
	UUID  string
	Label string
	// Epoch is SOURCE_DATE_EPOCH: the file system's own timestamps.
	Epoch int64
	Log   io.Writer
}

// MinExt4Size is the smallest root file system made.
const MinExt4Size = 32 * MiB

// ErrTooSmall is returned when content does not fit the file system size.
var ErrTooSmall = errors.New("the content does not fit")

func (e *Ext4) env() []string {
	return []string{
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(e.Epoch, 10),
		// The tree's configuration, not the host's, decides the features.
		"MKE2FS_CONFIG=" + filepath.Join(e.Tools.Root, "etc/mke2fs.conf"),
		"E2FSCK_CONFIG=/dev/null",
		// libarchive converts PAX (UTF-8) names to the locale: C.UTF-8 is
		// built into glibc, so no locale files are needed.
		"LC_ALL=C.UTF-8",
	}
}

// Xattr is an extended attribute to set on a path of the file system.
type Xattr struct {
	Path, Name, Value string
}

// Make creates an ext4 image of size bytes at imgPath populated from the
// tarball src (mke2fs -d), sets xattrs (which mke2fs's tar reader drops)
// with debugfs, then checks it with e2fsck -fn.
func (e *Ext4) Make(ctx context.Context, imgPath string, size int64, src string, xattrs ...Xattr) error {
	if size < MinExt4Size {
		return fmt.Errorf("ext4: %d MiB: %w: an ext4 root with a journal needs at least %d MiB", size>>20, ErrTooSmall, MinExt4Size>>20)
	}
	f, err := os.OpenFile(imgPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("ext4: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("ext4: %w", err)
	}
	f.Close()
	args := []string{
		"-q", "-F", "-t", "ext4",
		"-b", "4096",
		"-L", e.Label,
		"-U", e.UUID,
		"-E", "hash_seed=" + e.UUID + ",root_owner=0:0",
		"-m", "2",
		"-d", src,
		imgPath,
	}
	if err := e.Tools.Run(ctx, e.Log, e.env(), "mke2fs", args...); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "Could not allocate block") || strings.Contains(msg, "No space left") || strings.Contains(msg, "Could not allocate inode") {
			return fmt.Errorf("ext4: %d MiB: %w: %v", size>>20, ErrTooSmall, err)
		}
		return fmt.Errorf("ext4: %w", err)
	}
	if err := e.setXattrs(ctx, imgPath, xattrs); err != nil {
		return err
	}
	return e.Check(ctx, imgPath)
}

// setXattrs runs one debugfs script of "ea_set -f VALUEFILE PATH NAME";
// with SOURCE_DATE_EPOCH the result stays reproducible.
func (e *Ext4) setXattrs(ctx context.Context, imgPath string, xattrs []Xattr) error {
	if len(xattrs) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(imgPath), ".xattrs-*")
	if err != nil {
		return fmt.Errorf("ext4: %w", err)
	}
	defer os.RemoveAll(dir)
	var script strings.Builder
	for i, x := range xattrs {
		if strings.ContainsAny(x.Path+x.Name, "\"\n") {
			return fmt.Errorf("ext4: xattr %s of %q: the path or name cannot be passed to debugfs", x.Name, x.Path)
		}
		vf := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(vf, []byte(x.Value), 0o600); err != nil {
			return fmt.Errorf("ext4: %w", err)
		}
		fmt.Fprintf(&script, "ea_set -f \"%s\" \"%s\" \"%s\"\n", vf, x.Path, x.Name)
	}
	sp := filepath.Join(dir, "script")
	if err := os.WriteFile(sp, []byte(script.String()), 0o600); err != nil {
		return fmt.Errorf("ext4: %w", err)
	}
	out, err := e.Tools.Output(ctx, e.env(), "debugfs", "-w", "-f", sp, imgPath)
	if e.Log != nil {
		e.Log.Write(out)
	}
	if err != nil {
		return fmt.Errorf("ext4: set %d xattrs: %w", len(xattrs), err)
	}
	return nil
}

// Check runs e2fsck -fn on an ext4 image and fails unless it is clean.
func (e *Ext4) Check(ctx context.Context, imgPath string) error {
	if err := e.Tools.Run(ctx, e.Log, e.env(), "e2fsck", "-fn", imgPath); err != nil {
		return fmt.Errorf("ext4: e2fsck -fn %s is not clean: %w", filepath.Base(imgPath), err)
	}
	return nil
}

// CopySparse writes the content of src into dst at offset, skipping the
// holes of src so dst stays sparse. It returns the bytes of data copied.
func CopySparse(dst *os.File, offset int64, src string) (int64, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	var copied int64
	buf := make([]byte, 4<<20)
	pos := int64(0)
	for pos < size {
		data, err := unix.Seek(int(f.Fd()), pos, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break // only a hole is left
			}
			return copied, fmt.Errorf("copy %s: %w", src, err)
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return copied, fmt.Errorf("copy %s: %w", src, err)
		}
		for off := data; off < hole; {
			n := min(int64(len(buf)), hole-off)
			if _, err := f.ReadAt(buf[:n], off); err != nil {
				return copied, fmt.Errorf("copy %s: %w", src, err)
			}
			if _, err := dst.WriteAt(buf[:n], offset+off); err != nil {
				return copied, fmt.Errorf("copy %s: %w", src, err)
			}
			off += n
			copied += n
		}
		pos = hole
	}
	return copied, nil
}

// Assemble writes the raw disk image at dst: the partition table of l and
// the two partition images at their offsets. The file is fsynced.
func Assemble(dst string, l *Layout, bootImg, rootImg string) error {
	for _, pi := range []struct {
		p   *Partition
		img string
	}{{&l.Boot, bootImg}, {&l.Root, rootImg}} {
		fi, err := os.Stat(pi.img)
		if err != nil {
			return fmt.Errorf("assemble: %w", err)
		}
		if fi.Size() > pi.p.Size {
			return fmt.Errorf("assemble: %s (%d bytes) is larger than partition %d (%d bytes)", pi.img, fi.Size(), pi.p.Number, pi.p.Size)
		}
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(l.Size); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if err := l.WriteTable(f); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if _, err := CopySparse(f, l.Boot.Start, bootImg); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if _, err := CopySparse(f, l.Root.Start, rootImg); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	return f.Close()
}

// Allocated returns the bytes of a file actually stored on disk.
func Allocated(p string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}
