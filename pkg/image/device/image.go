package device

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// checkSize refuses an image shorter than its partition table says: a
// truncated download or copy would otherwise be "written" and fail to
// boot. A GPT disk must hold its backup header, an MBR disk every
// partition.
func checkSize(f *os.File, size int64) error {
	mbr := make([]byte, disk.SectorSize)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("read partition table: %w", err)
	}
	var need int64
	what := "its last partition"
	if mbr[446+4] == 0xee {
		hdr := make([]byte, disk.SectorSize)
		if _, err := f.ReadAt(hdr, disk.SectorSize); err != nil || string(hdr[:8]) != "EFI PART" {
			return errors.New("protective MBR without a GPT header")
		}
		need = (int64(binary.LittleEndian.Uint64(hdr[32:])) + 1) * disk.SectorSize
		what = "the GPT backup header"
	} else {
		for i := range 4 {
			e := mbr[446+16*i : 446+16*(i+1)]
			if e[4] == 0 {
				continue
			}
			end := (int64(binary.LittleEndian.Uint32(e[8:])) + int64(binary.LittleEndian.Uint32(e[12:]))) * disk.SectorSize
			need = max(need, end)
		}
	}
	if size < need {
		return fmt.Errorf("truncated: %d bytes, but %s ends at byte %d: expected the whole image (an incomplete download or copy?)", size, what, need)
	}
	return nil
}

// BootPartition finds the FAT boot partition of a raw edgeimg image: the
// EFI system partition of a GPT disk, or the first FAT partition of an
// MBR disk.
func BootPartition(f *os.File) (*disk.Partition, error) {
	mbr := make([]byte, disk.SectorSize)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("read partition table: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return nil, errors.New("no partition table: expected a raw disk image (.img) made by edgeimg build (decompress .img.xz/.img.zst first)")
	}
	if mbr[446+4] == 0xee {
		t, err := gpt.Read(file.New(f, true), disk.SectorSize, disk.SectorSize)
		if err != nil {
			return nil, fmt.Errorf("read GPT: %w", err)
		}
		for _, p := range t.Partitions {
			if strings.EqualFold(string(p.Type), string(gpt.EFISystemPartition)) {
				return &disk.Partition{Number: p.Index, Start: int64(p.Start) * disk.SectorSize, Size: int64(p.Size)}, nil
			}
		}
		return nil, errors.New("no EFI system partition in the GPT")
	}
	for i := range 4 {
		e := mbr[446+16*i : 446+16*(i+1)]
		switch e[4] {
		case 0x0b, 0x0c, 0x0e:
			return &disk.Partition{
				Number: i + 1,
				Start:  int64(binary.LittleEndian.Uint32(e[8:])) * disk.SectorSize,
				Size:   int64(binary.LittleEndian.Uint32(e[12:])) * disk.SectorSize,
			}, nil
		}
	}
	return nil, errors.New("no FAT partition in the MBR")
}

// ReadImage returns the device file of a raw image, or nil data when the
// image has none.
func ReadImage(imgPath string) ([]byte, error) {
	f, err := os.Open(imgPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := BootPartition(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imgPath, err)
	}
	fsys, err := disk.FATPartition(f, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imgPath, err)
	}
	data, err := disk.ReadFATFile(fsys, "/"+FileName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "not exist") || strings.Contains(err.Error(), "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", imgPath, err)
	}
	return data, nil
}

// WriteImage writes cfg as edgeimg-device.yaml onto the boot partition of
// the raw image at imgPath (through a symlink: the link's target is
// changed, the link stays). The image is copied (keeping holes) to a
// temporary file next to it, changed there and renamed over the original,
// so a failure leaves the original as it was. A truncated image is
// refused.
func WriteImage(imgPath string, cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(imgPath)
	if err != nil {
		return err
	}
	if li, err := os.Lstat(imgPath); err == nil && li.Mode()&os.ModeSymlink != 0 {
		imgPath = fmt.Sprintf("%s (the target of %s)", target, imgPath)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: expected an image file (for a flashed card, edit %s on its FAT partition)", imgPath, FileName)
	}
	src, err := os.Open(target)
	if err != nil {
		return err
	}
	err = checkSize(src, fi.Size())
	src.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", imgPath, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Truncate(fi.Size()); err != nil {
		return err
	}
	if _, err := disk.CopySparse(tmp, 0, target); err != nil {
		return err
	}
	p, err := BootPartition(tmp)
	if err != nil {
		return fmt.Errorf("%s: %w", imgPath, err)
	}
	fsys, err := disk.FATPartition(tmp, p)
	if err != nil {
		return fmt.Errorf("%s: %w", imgPath, err)
	}
	if err := disk.WriteFATFile(fsys, "/"+FileName, cfg.Marshal(), time.Now().UTC()); err != nil {
		return fmt.Errorf("%s: %w", imgPath, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	ok = true
	return nil
}
