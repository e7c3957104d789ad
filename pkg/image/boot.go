package image

import (
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// bootPart is the boot partition's FAT image.
type bootPart struct {
	img   string
	files int
	bytes int64 // of the files
	size  int64 // of the partition
}

// bootStep is "Boot partition": the kernel, initrd and the board's boot
// loader (systemd-boot, or the Raspberry Pi firmware) in a FAT file
// system.
type bootStep struct {
	b     *Builder
	tools *toolsResult
	tree  *tree
	ws    *workspace
	out   bootPart
}

func (s *bootStep) Title() string { return "Boot partition" }

func (s *bootStep) DryRun(_ context.Context, w io.Writer) error {
	bd := s.b.board
	return dryLine(w, "FAT32 %s (%s, %s), %s", bd.BootPartition.Label, bd.BootPartition.Size, bd.PartitionTable, bd.Bootloader)
}

func (s *bootStep) Detail() string {
	if s.out.img == "" {
		return ""
	}
	return fmt.Sprintf("%d files, %s of %s", s.out.files, humanize.Bytes(s.out.bytes), humanize.Bytes(s.out.size))
}

func (s *bootStep) Run(ctx context.Context) error {
	l := s.tree.layout
	files, err := s.b.bootFiles(s.tree)
	if err != nil {
		return err
	}
	img := filepath.Join(s.ws.work, "boot.fat")
	fa := &disk.FAT{Tools: s.tools.tree, Label: s.b.board.BootPartition.Label, VolumeID: volumeID(l), Epoch: s.b.epoch, Log: phase.Output(ctx)}
	if err := fa.Make(ctx, img, l.Boot.Size, files); err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	s.out = bootPart{img: img, files: len(files), bytes: total, size: l.Boot.Size}
	return nil
}

// bootFiles are the boot partition's files, in path order.
func (b *Builder) bootFiles(t *tree) ([]disk.FATFile, error) {
	ix, l, bd := t.index, t.layout, b.board
	kernel := ix.Files["/boot/vmlinuz-"+t.kernel]
	initrd := ix.Files["/boot/initrd.img-"+t.kernel]
	cmdline := fmt.Sprintf("root=PARTUUID=%s %s", l.PARTUUID(&l.Root), bd.Cmdline)
	files := []disk.FATFile{
		{Path: "/vmlinuz", Data: kernel},
		{Path: "/initrd.img", Data: initrd},
		{Path: "/" + device.FileName + ".example", Data: []byte(device.Example)},
	}
	switch bd.Bootloader {
	case BootSystemdBoot:
		efi, ok := ix.Files[bd.EFIBinary]
		if !ok {
			return nil, fmt.Errorf("the base has no %s: board %s needs systemd-boot-efi", bd.EFIBinary, bd.Name)
		}
		files = append(files,
			disk.FATFile{Path: "/EFI/BOOT/" + bd.EFIBootName, Data: efi},
			disk.FATFile{Path: "/loader/loader.conf", Data: []byte("default edgeimg.conf\ntimeout 0\neditor no\nconsole-mode keep\n")},
			disk.FATFile{Path: "/loader/entries/edgeimg.conf", Data: []byte(fmt.Sprintf("title %s (edgeimg, Debian %s)\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n",
				b.opts.Spec.Metadata.Name, b.opts.Spec.Spec.OS.Suite, cmdline))},
		)
	case BootRPiFirmware:
		fw, err := b.firmwareFiles(t)
		if err != nil {
			return nil, err
		}
		files = append(files, fw...)
		files = append(files,
			disk.FATFile{Path: "/config.txt", Data: []byte(bd.Firmware.Config)},
			disk.FATFile{Path: "/cmdline.txt", Data: []byte(cmdline + "\n")},
		)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// firmwareFiles are the Raspberry Pi firmware (raspi-firmware) and the
// kernel's device trees; every file the board requires must be there.
func (b *Builder) firmwareFiles(t *tree) ([]disk.FATFile, error) {
	var files []disk.FATFile
	have := map[string]bool{}
	for p, data := range t.index.Files {
		var rel string
		switch {
		case strings.HasPrefix(p, "/usr/lib/raspi-firmware/"):
			rel = strings.TrimPrefix(p, "/usr/lib/raspi-firmware")
		case strings.HasPrefix(p, "/usr/lib/linux-image-"+t.kernel+"/broadcom/bcm2711"):
			rel = "/" + path.Base(p)
		default:
			continue
		}
		files = append(files, disk.FATFile{Path: rel, Data: data})
		have[strings.TrimPrefix(rel, "/")] = true
	}
	var missing []string
	for _, r := range b.board.Firmware.Required {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("board %s: the firmware partition would lack %s (from raspi-firmware and linux-image-%s): the image could not boot", b.board.Name, strings.Join(missing, ", "), t.kernel)
	}
	return files, nil
}

// volumeID derives the FAT volume serial from the disk's identity: the
// first 32 bits of a UUID derived for the "fat" role.
func volumeID(l *disk.Layout) uint32 {
	u := disk.DeriveUUID(l.DiskGUID+fmt.Sprint(l.Signature), "fat")
	v, err := strconv.ParseUint(u[:8], 16, 32)
	if err != nil {
		// DeriveUUID always starts with 8 hex digits; anything else is a bug.
		panic(fmt.Sprintf("volumeID: derived UUID %q: %v", u, err))
	}
	return uint32(v)
}
