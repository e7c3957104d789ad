package image

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeimg/edgeimg/boards"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Bootloaders.
const (
	BootSystemdBoot = "systemd-boot"
	BootRPiFirmware = "rpi-firmware"
)

// Board is one target board, read from boards/<name>.yaml.
type Board struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Arch is the Debian architecture (amd64, arm64).
	Arch     string `yaml:"arch"`
	Platform string `yaml:"platform"`
	// PartitionTable is disk.GPT or disk.MBR.
	PartitionTable string `yaml:"partitionTable"`
	// Bootloader is systemd-boot (EFI) or rpi-firmware.
	Bootloader string   `yaml:"bootloader"`
	Components []string `yaml:"components"`
	// Packages are the kernel and boot packages the board needs.
	Packages []string `yaml:"packages"`
	// EFIBinary is the systemd-boot binary in the root tree, installed
	// as /EFI/BOOT/<EFIBootName> on the ESP.
	EFIBinary     string        `yaml:"efiBinary"`
	EFIBootName   string        `yaml:"efiBootName"`
	BootPartition BootPartition `yaml:"bootPartition"`
	// Cmdline is the kernel command line without root=.
	Cmdline       string    `yaml:"cmdline"`
	SerialConsole string    `yaml:"serialConsole"`
	Firmware      *Firmware `yaml:"firmware"`
	// Unsupported, when set, is why the board cannot be built.
	Unsupported string `yaml:"unsupported"`
}

// NodePlatform is the image platform (os/arch[/variant]) and the
// architecture (of the OS and the k0s binary) of a node on this board:
// the board's platform, or override when set (spec.images.platform, or a
// command's --platform: linux/arm/v7 images on an arm64 board), and always
// the board's architecture. It is the one place the rule is coded.
func (b *Board) NodePlatform(override string) (platform, arch string) {
	if override == "" {
		return b.Platform, b.Arch
	}
	return override, b.Arch
}

// BootPartition is the FAT partition (ESP or Pi firmware partition).
type BootPartition struct {
	Size       spec.Quantity `yaml:"size"`
	Label      string        `yaml:"label"`
	MountPoint string        `yaml:"mountPoint"`
}

// Firmware describes a Raspberry Pi firmware partition.
type Firmware struct {
	// Required files must be on the partition or the build fails.
	Required []string `yaml:"required"`
	// Config is config.txt.
	Config string `yaml:"config"`
}

// Boards returns every embedded board, sorted by name.
func Boards() ([]*Board, error) {
	entries, err := fs.Glob(boards.FS, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*Board
	for _, e := range entries {
		data, err := fs.ReadFile(boards.FS, e)
		if err != nil {
			return nil, err
		}
		b, err := parseBoard(e, data)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// BoardNames lists the names of boards that can be built.
func BoardNames() []string {
	bs, _ := Boards()
	var names []string
	for _, b := range bs {
		if b.Unsupported == "" {
			names = append(names, b.Name)
		}
	}
	return names
}

// LookupBoard returns the named board, or an error naming the known ones;
// an unsupported board is an error that says why.
func LookupBoard(name string) (*Board, error) {
	bs, err := Boards()
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if b.Name == name {
			if b.Unsupported != "" {
				return nil, fmt.Errorf("spec.board %q is not supported: %s", name, strings.TrimSpace(b.Unsupported))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("spec.board %q: unknown board: expected one of %s (see 'edgeimg boards')", name, strings.Join(BoardNames(), ", "))
}

func parseBoard(file string, data []byte) (*Board, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var b Board
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("board %s: %w", file, err)
	}
	if b.Name+".yaml" != file {
		return nil, fmt.Errorf("board %s: name %q does not match the file name", file, b.Name)
	}
	if b.Unsupported != "" {
		return &b, nil
	}
	var problems []string
	if !slices.Contains([]string{"amd64", "arm64"}, b.Arch) {
		problems = append(problems, fmt.Sprintf("arch %q: expected amd64 or arm64", b.Arch))
	}
	switch b.PartitionTable {
	case disk.GPT, disk.MBR:
	default:
		problems = append(problems, fmt.Sprintf("partitionTable %q: expected gpt or mbr", b.PartitionTable))
	}
	switch b.Bootloader {
	case BootSystemdBoot:
		if b.EFIBinary == "" || b.EFIBootName == "" || b.PartitionTable != disk.GPT {
			problems = append(problems, "systemd-boot needs efiBinary, efiBootName and a gpt partition table")
		}
	case BootRPiFirmware:
		if b.Firmware == nil || b.PartitionTable != disk.MBR {
			problems = append(problems, "rpi-firmware needs firmware and an mbr partition table")
		}
	default:
		problems = append(problems, fmt.Sprintf("bootloader %q: expected %s or %s", b.Bootloader, BootSystemdBoot, BootRPiFirmware))
	}
	if b.BootPartition.Size.Value() < 64<<20 {
		problems = append(problems, "bootPartition.size: expected at least 64Mi")
	}
	if b.BootPartition.MountPoint == "" || b.BootPartition.Label == "" {
		problems = append(problems, "bootPartition: expected label and mountPoint")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("board %s: %s", file, strings.Join(problems, "; "))
	}
	return &b, nil
}
