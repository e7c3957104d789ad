package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
	"github.com/edgeimg/edgeimg/pkg/phase"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// newLayout lays the disk out once, before the root file system's size is
// known: the partition table, the boot partition and every identifier
// (fstab and the boot entry name the partitions). The Root partition step
// sizes the root (Layout.WithRootSize).
func (b *Builder) newLayout(seed string) (*disk.Layout, error) {
	return disk.NewLayout(b.board.PartitionTable, b.board.Arch, b.board.BootPartition.Size.Value(), 0, seed)
}

// Root file system sizing.
const (
	// rootOverhead covers the journal, inode tables (one inode per 8 KiB),
	// group descriptors and the 2% reserved for root.
	rootOverheadFixed = 96 * disk.MiB
	// RootHeadroom is the free space of a computed root file system,
	// before first boot grows it to the medium.
	RootHeadroom = 256 * disk.MiB
)

// MinRootSize is the smallest root file system that holds the content.
func MinRootSize(s rootfs.Stats) int64 {
	content := s.Blocks * 4096
	return (content*110/100 + s.Entries*64 + rootOverheadFixed + disk.MiB - 1) / disk.MiB * disk.MiB
}

// rootSize is the root partition's size: the content plus RootHeadroom,
// or what spec.disk.size leaves after the boot partition.
func rootSize(sz spec.Quantity, stats rootfs.Stats, bootSize int64) (int64, error) {
	minRoot := MinRootSize(stats)
	if !sz.IsSet() {
		return minRoot + RootHeadroom, nil
	}
	avail := sz.Value() - bootSize - 2*disk.Align
	if avail < minRoot {
		need := minRoot + bootSize + 2*disk.Align
		return 0, fmt.Errorf("spec.disk.size %s is too small for the content: the boot partition (%s) and a root file system holding %s of files need at least %dMi",
			sz, humanize.Bytes(bootSize), humanize.Bytes(stats.Bytes), (need+disk.MiB-1)/disk.MiB)
	}
	return avail / disk.MiB * disk.MiB, nil
}

// rootPart is the root partition's ext4 image and the disk layout sized
// to it.
type rootPart struct {
	img    string
	layout *disk.Layout
	alloc  int64
}

// rootStep is "Root partition": the composed tar as an ext4 file system
// (mke2fs -d, checked with e2fsck -fn) of the root partition's size.
type rootStep struct {
	b       *Builder
	checked *checked
	tools   *toolsResult
	tree    *tree
	ws      *workspace
	out     rootPart
}

func (s *rootStep) Title() string { return "Root partition" }

func (s *rootStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "ext4 by mke2fs -d from the composed tar, e2fsck -fn")
}

func (s *rootStep) Detail() string {
	if s.out.img == "" {
		return ""
	}
	return fmt.Sprintf("%s, %s used, e2fsck clean", humanize.Bytes(s.out.layout.Root.Size), humanize.Bytes(s.out.alloc))
}

func (s *rootStep) Run(ctx context.Context) error {
	b := s.b
	size, err := rootSize(b.opts.Spec.Spec.Disk.Size, s.tree.stats, s.tree.layout.Boot.Size)
	if err != nil {
		return err
	}
	img := filepath.Join(s.ws.work, "root.ext4")
	e := &disk.Ext4{Tools: s.tools.tree, UUID: disk.DeriveUUID(s.checked.seed, "rootfs"), Label: "root", Epoch: b.epoch, Log: phase.Output(ctx)}
	xattrs := make([]disk.Xattr, len(s.tree.stats.Xattrs))
	for i, x := range s.tree.stats.Xattrs {
		xattrs[i] = disk.Xattr{Path: x.Path, Name: x.Name, Value: x.Value}
	}
	if err := e.Make(ctx, img, size, s.tree.tar, xattrs...); err != nil {
		return err
	}
	os.Remove(s.tree.tar)
	alloc, _ := disk.Allocated(img)
	s.out = rootPart{img: img, layout: s.tree.layout.WithRootSize(size), alloc: alloc}
	return nil
}
