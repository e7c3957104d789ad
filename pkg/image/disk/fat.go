package disk

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// FATFile is one file for a FAT partition.
type FATFile struct {
	// Path is the path on the partition ("/EFI/BOOT/BOOTX64.EFI").
	Path string
	Data []byte
}

// FAT says how to make a FAT32 boot partition.
type FAT struct {
	Tools *tools.Tree
	Label string
	// VolumeID is the 32-bit volume serial number.
	VolumeID uint32
	Epoch    int64
	Log      io.Writer
}

// Make creates a FAT32 file system image of size bytes at imgPath holding
// files, with mkfs.fat --invariant and mtools from the tools tree: every
// directory is made and every file copied in sorted order with its time
// set to the epoch, so the bytes depend only on the inputs.
func (fa *FAT) Make(ctx context.Context, imgPath string, size int64, files []FATFile) error {
	var total int64
	for _, ff := range files {
		total += int64(len(ff.Data))
	}
	if total > size*9/10 {
		return fmt.Errorf("fat: %d MiB of files do not fit a %d MiB boot partition", total>>20, size>>20)
	}
	f, err := os.OpenFile(imgPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("fat: %w", err)
	}
	f.Close()
	env := []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(fa.Epoch, 10), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", "LC_ALL=C", "TZ=UTC"}
	if err := fa.Tools.Run(ctx, fa.Log, env, "mkfs.fat", "-F", "32", "--invariant", "-i", fmt.Sprintf("%08x", fa.VolumeID), "-n", fa.Label, imgPath); err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(imgPath), ".fat-stage-*")
	if err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	defer os.RemoveAll(stage)
	epoch := time.Unix(fa.Epoch, 0)
	byDir := map[string][]string{}
	dirs := map[string]bool{}
	for _, ff := range files {
		p := path.Clean("/" + ff.Path)
		host := filepath.Join(stage, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
		if err := os.WriteFile(host, ff.Data, 0o644); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
		if err := os.Chtimes(host, epoch, epoch); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
		d := path.Dir(p)
		byDir[d] = append(byDir[d], host)
		for ; d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	sortedDirs := make([]string, 0, len(dirs))
	for d := range dirs {
		sortedDirs = append(sortedDirs, d)
	}
	sort.Strings(sortedDirs) // parents before children
	for _, d := range sortedDirs {
		if err := fa.Tools.Run(ctx, fa.Log, env, "mmd", "-i", imgPath, "::"+d); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
	}
	targets := make([]string, 0, len(byDir))
	for d := range byDir {
		targets = append(targets, d)
	}
	sort.Strings(targets)
	for _, d := range targets {
		srcs := byDir[d]
		sort.Strings(srcs)
		args := append([]string{"-i", imgPath, "-m", "-p", "-Q", "-o"}, srcs...)
		args = append(args, "::"+strings.TrimSuffix(d, "/")+"/")
		if err := fa.Tools.Run(ctx, fa.Log, env, "mcopy", args...); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
	}
	return nil
}

// FATPartition opens the FAT file system of partition p inside a disk
// image file opened read-write.
func FATPartition(f *os.File, p *Partition) (*fat32.FileSystem, error) {
	fsys, err := fat32.Read(file.New(f, false), p.Size, p.Start, SectorSize)
	if err != nil {
		return nil, fmt.Errorf("fat partition %d: %w", p.Number, err)
	}
	return fsys, nil
}

// ReadFATFile returns a file of a FAT file system.
func ReadFATFile(fsys *fat32.FileSystem, p string) ([]byte, error) {
	fh, err := fsys.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(fh)
}

// WriteFATFile creates or replaces a file of a FAT file system.
func WriteFATFile(fsys *fat32.FileSystem, p string, data []byte, mtime time.Time) error {
	if _, err := fsys.Stat(p); err == nil {
		// Truncating in place leaves the old cluster chain; remove first.
		if err := fsys.Remove(p); err != nil {
			return fmt.Errorf("fat: replace %s: %w", p, err)
		}
	}
	return writeFATFile(fsys, p, data, mtime)
}

// ListFAT returns every file path of a FAT file system, sorted.
func ListFAT(fsys *fat32.FileSystem) ([]string, error) {
	var out []string
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("fat: list %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if name == "." || name == ".." {
				continue
			}
			p := path.Join(dir, name)
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			out = append(out, p)
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out, nil
}

func writeFATFile(fsys *fat32.FileSystem, p string, data []byte, mtime time.Time) error {
	fh, err := fsys.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("fat: create %s: %w", p, err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("fat: write %s: %w", p, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("fat: write %s: %w", p, err)
	}
	if err := fsys.Chtimes(p, mtime, mtime, mtime); err != nil {
		return fmt.Errorf("fat: %s: %w", p, err)
	}
	return nil
}
