package format

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// Env is what writers need.
type Env struct {
	Tools *tools.Tree
	Log   io.Writer
	// Name is the image name (OVF machine name).
	Name string
	// MemoryMiB and CPUs size the OVA's virtual machine.
	MemoryMiB int64
	CPUs      int
	// Arch is the Debian architecture of the image.
	Arch string
	// Seed derives the OVA's identifiers.
	Seed string
	// ZstdLevel and XzLevel are the compression levels (0: defaults).
	ZstdLevel, XzLevel int
}

// Converter writes the raw image raw as dst.
type Converter func(ctx context.Context, env *Env, raw, dst string) error

// Format is one output format.
type Format struct {
	Name string
	// Ext is the file name suffix after the image name.
	Ext     string
	Convert Converter
	// Bmap is set for the formats written with the raw image's block map
	// next to them (<image name>.img.bmap, for bmaptool copy).
	Bmap bool
	// Arches are the Debian architectures the format is built for (nil:
	// every one); ArchNote says why, in the error refusing another.
	Arches   []string
	ArchNote string
	// Doc is one line for 'edgeimg build --help' and the README.
	Doc string
}

// CheckArch refuses an architecture the format is not built for.
func (f Format) CheckArch(arch string) error {
	if f.Arches == nil || slices.Contains(f.Arches, arch) {
		return nil
	}
	return fmt.Errorf("%s, not %s", f.ArchNote, arch)
}

// Write writes the raw image raw as dst in format f and, for a Bmap
// format, the block map next to it. It returns the extra files it wrote
// (the block map), which are outputs too.
func (f Format) Write(ctx context.Context, env *Env, raw, dst string) (extra []string, err error) {
	if err := f.CheckArch(env.Arch); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if err := f.Convert(ctx, env, raw, dst); err != nil {
		return nil, err
	}
	if !f.Bmap {
		return nil, nil
	}
	bm := dst[:len(dst)-len(f.Ext)] + BmapExt
	var buf bytes.Buffer
	if err := disk.WriteBmap(raw, &buf); err != nil {
		return nil, err
	}
	if err := os.WriteFile(bm, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return []string{bm}, nil
}

// Default compression levels: zstd -15 is about as small as -19 on disk
// images at a third of the time; xz -6 is what Raspberry Pi Imager and
// Etcher are used to.
const (
	DefaultZstdLevel = 15
	DefaultXzLevel   = 6
)

// Formats returns every format by name.
func Formats() map[string]Format {
	return map[string]Format{
		"raw":     {Name: "raw", Ext: ".img", Convert: writeRaw, Bmap: true, Doc: "raw disk image with a .img.bmap block map (dd, bmaptool copy)"},
		"img.zst": {Name: "img.zst", Ext: ".img.zst", Convert: writeZstd, Bmap: true, Doc: "zstd-compressed raw image with a .img.bmap block map (bmaptool copy)"},
		"img.xz":  {Name: "img.xz", Ext: ".img.xz", Convert: writeXz, Doc: "xz-compressed raw image (Raspberry Pi Imager, Etcher)"},
		"qcow2":   {Name: "qcow2", Ext: ".qcow2", Convert: qemuImg("qcow2"), Doc: "QEMU/libvirt disk"},
		"vmdk":    {Name: "vmdk", Ext: ".vmdk", Convert: qemuImg("vmdk"), Doc: "VMware/VirtualBox disk"},
		"vdi":     {Name: "vdi", Ext: ".vdi", Convert: qemuImg("vdi"), Doc: "VirtualBox disk"},
		"ova": {Name: "ova", Ext: ".ova", Convert: writeOVA, Doc: "VirtualBox appliance: OVF (EFI, the spec's CPU and memory) + streamOptimized VMDK",
			Arches: []string{"amd64"}, ArchNote: "VirtualBox appliances are built for x86_64 boards only"},
	}
}

// Names lists the format names, sorted.
func Names() []string {
	var out []string
	for n := range Formats() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BmapExt is the block map's suffix after the image name.
const BmapExt = ".img.bmap"

func writeRaw(_ context.Context, _ *Env, raw, dst string) error {
	// The raw image is an output as it is: a hard link, no copy.
	if err := os.Link(raw, dst); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	return nil
}

func threads() string { return strconv.Itoa(runtime.NumCPU()) }

func writeZstd(ctx context.Context, env *Env, raw, dst string) error {
	level := env.ZstdLevel
	if level == 0 {
		level = DefaultZstdLevel
	}
	return compress(ctx, env, raw, dst, "zstd", "-q", "-c", "-"+strconv.Itoa(level), "-T"+threads())
}

func writeXz(ctx context.Context, env *Env, raw, dst string) error {
	level := env.XzLevel
	if level == 0 {
		level = DefaultXzLevel
	}
	return compress(ctx, env, raw, dst, "xz", "-z", "-c", "-"+strconv.Itoa(level), "-T"+threads(), "--check=crc64")
}

// compress streams raw through a compressor (reading stdin, writing
// stdout) into dst, reporting byte progress.
func compress(ctx context.Context, env *Env, raw, dst, tool string, args ...string) error {
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	cmd, err := env.Tools.Command(ctx, nil, tool, args...)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	var stderr bytes.Buffer
	cmd.Stdin = phase.ProgressReader(ctx, in, fi.Size())
	cmd.Stdout, cmd.Stderr = out, &stderr
	fmt.Fprintf(env.Log, "$ %s %s < %s > %s\n", tool, strings.Join(args, " "), raw, dst)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", tool, err, stderr.String())
	}
	return out.Sync()
}

func qemuImg(fmtName string) Converter {
	return func(ctx context.Context, env *Env, raw, dst string) error {
		args := []string{"convert", "-q", "-f", "raw", "-O", fmtName}
		switch fmtName {
		case "qcow2":
			args = append(args, "-o", "compat=1.1")
		case "vdi":
			args = append(args, "-o", "static=off")
		}
		args = append(args, raw, dst)
		return env.Tools.Run(ctx, env.Log, nil, "qemu-img", args...)
	}
}
