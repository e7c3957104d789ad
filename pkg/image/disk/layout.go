package disk

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Sizes and alignment.
const (
	SectorSize = 512
	MiB        = 1 << 20
	// Align is where partitions start and end (1 MiB, what SD cards and
	// every partitioning tool like).
	Align = MiB
)

// Partition table kinds.
const (
	GPT = "gpt"
	MBR = "mbr"
)

// Partition is one partition of a Layout.
type Partition struct {
	// Number is the 1-based partition number (nvme0n1p<Number>).
	Number int
	Name   string
	// Start and Size in bytes, both multiples of Align.
	Start, Size int64
	// GPTType is the GPT partition type GUID; MBRType the MBR type byte.
	GPTType string
	MBRType byte
	// UUID is the GPT partition GUID (PARTUUID); empty for MBR, whose
	// PARTUUID is <disk signature>-<number>.
	UUID string
}

// Layout is a two-partition disk: a FAT boot partition then the root.
type Layout struct {
	Table string
	Size  int64
	// DiskGUID (GPT) or Signature (MBR) identify the disk.
	DiskGUID  string
	Signature uint32
	Boot      Partition
	Root      Partition
}

// Root partition type GUIDs of the Discoverable Partitions Specification.
var rootTypes = map[string]string{
	"amd64": string(gpt.LinuxRootX86_64),
	"arm64": string(gpt.LinuxRootArm64),
}

// DeriveUUID returns a UUID (version 4 layout) derived from seed and role:
// stable for the same spec, distinct per role.
func DeriveUUID(seed, role string) string {
	h := sha256.Sum256([]byte("edgeimg-uuid\x00" + seed + "\x00" + role))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewLayout places a boot partition of bootSize and a root partition of
// rootSize (both rounded up to Align) on a disk, with identifiers derived
// from seed. arch selects the GPT root partition type.
func NewLayout(table, arch string, bootSize, rootSize int64, seed string) (*Layout, error) {
	bootSize = roundUp(bootSize, Align)
	l := &Layout{Table: table}
	l.Boot = Partition{Number: 1, Name: "boot", Start: Align, Size: bootSize}
	l.Root = Partition{Number: 2, Name: "root", Start: Align + bootSize}
	l.sizeRoot(rootSize)
	switch table {
	case GPT:
		rt, ok := rootTypes[arch]
		if !ok {
			return nil, fmt.Errorf("disk: no GPT root partition type for architecture %s", arch)
		}
		l.DiskGUID = DeriveUUID(seed, "disk")
		l.Boot.GPTType, l.Boot.UUID, l.Boot.Name = string(gpt.EFISystemPartition), DeriveUUID(seed, "boot"), "ESP"
		l.Root.GPTType, l.Root.UUID = rt, DeriveUUID(seed, "root")
	case MBR:
		h := sha256.Sum256([]byte("edgeimg-mbr\x00" + seed))
		l.Signature = binary.LittleEndian.Uint32(h[:4])
		if l.Signature == 0 {
			l.Signature = 1
		}
		l.Boot.MBRType = 0x0c // FAT32 LBA
		l.Root.MBRType = 0x83 // Linux
	default:
		return nil, fmt.Errorf("disk: partition table %q: expected gpt or mbr", table)
	}
	return l, nil
}

// WithRootSize returns a copy of l whose root partition is rootSize
// (rounded up to Align), the disk grown or shrunk to match; the
// identifiers stay. A build lays the disk out before it knows the root
// file system's size (fstab and the boot entry name the partitions) and
// sizes the root once the file system is made.
func (l *Layout) WithRootSize(rootSize int64) *Layout {
	c := *l
	c.sizeRoot(rootSize)
	return &c
}

func (l *Layout) sizeRoot(rootSize int64) {
	l.Root.Size = roundUp(rootSize, Align)
	// 1 MiB at the end holds the backup GPT (and keeps MBR disks aligned).
	l.Size = l.Root.Start + l.Root.Size + Align
}

// PARTUUID returns the PARTUUID by which Linux finds partition p.
func (l *Layout) PARTUUID(p *Partition) string {
	if l.Table == MBR {
		return fmt.Sprintf("%08x-%02x", l.Signature, p.Number)
	}
	return strings.ToLower(p.UUID)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// WriteTable writes the partition table to the image file f of l.Size bytes.
func (l *Layout) WriteTable(f *os.File) error {
	switch l.Table {
	case GPT:
		t := &gpt.Table{
			LogicalSectorSize:  SectorSize,
			PhysicalSectorSize: SectorSize,
			ProtectiveMBR:      true,
			GUID:               l.DiskGUID,
			Partitions: []*gpt.Partition{
				l.gptPart(&l.Boot),
				l.gptPart(&l.Root),
			},
		}
		w, err := file.New(f, false).Writable()
		if err != nil {
			return fmt.Errorf("write GPT: %w", err)
		}
		if err := t.Write(w, l.Size); err != nil {
			return fmt.Errorf("write GPT: %w", err)
		}
		return nil
	case MBR:
		if _, err := f.WriteAt(l.mbr(), 0); err != nil {
			return fmt.Errorf("write MBR: %w", err)
		}
		return nil
	}
	return fmt.Errorf("disk: partition table %q", l.Table)
}

func (l *Layout) gptPart(p *Partition) *gpt.Partition {
	return &gpt.Partition{
		Index: p.Number,
		Start: uint64(p.Start / SectorSize),
		End:   uint64((p.Start+p.Size)/SectorSize) - 1,
		Size:  uint64(p.Size),
		Type:  gpt.Type(strings.ToUpper(p.GPTType)),
		Name:  p.Name,
		GUID:  strings.ToUpper(p.UUID),
	}
}

// mbr returns the 512-byte master boot record: no boot code, the disk
// signature at 440, two LBA partition entries and the 0x55AA marker.
func (l *Layout) mbr() []byte {
	b := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(b[440:], l.Signature)
	for i, p := range []*Partition{&l.Boot, &l.Root} {
		e := b[446+16*i : 446+16*(i+1)]
		// CHS fields set to the "use LBA" maximum.
		copy(e[1:4], []byte{0xfe, 0xff, 0xff})
		e[4] = p.MBRType
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], uint32(p.Start/SectorSize))
		binary.LittleEndian.PutUint32(e[12:], uint32(p.Size/SectorSize))
	}
	b[446] = 0x80 // boot partition active, as the Pi firmware tolerates and some BIOSes expect
	b[510], b[511] = 0x55, 0xaa
	return b
}
