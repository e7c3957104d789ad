package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// rawDisk is the raw disk image every format is written from.
type rawDisk struct {
	path   string
	sha    string
	layout *disk.Layout
	alloc  int64
}

// diskStep is "Disk image": the partition table and both partitions in
// one sparse raw image.
type diskStep struct {
	b    *Builder
	boot *bootPart
	root *rootPart
	ws   *workspace
	res  *Result
	out  rawDisk
}

func (s *diskStep) Title() string { return "Disk image" }

func (s *diskStep) DryRun(_ context.Context, w io.Writer) error {
	size := "content plus headroom"
	if sz := s.b.opts.Spec.Spec.Disk.Size; sz.IsSet() {
		size = sz.String()
	}
	return dryLine(w, "%s disk, %s, root by PARTUUID", s.b.board.PartitionTable, size)
}

func (s *diskStep) Detail() string {
	if s.out.sha == "" {
		return ""
	}
	return fmt.Sprintf("%s (%s allocated), sha256 %s", humanize.Bytes(s.out.layout.Size), humanize.Bytes(s.out.alloc), s.out.sha[:12])
}

func (s *diskStep) Run(context.Context) error {
	raw := filepath.Join(s.ws.work, "disk.img")
	l := s.root.layout
	if err := disk.Assemble(raw, l, s.boot.img, s.root.img); err != nil {
		return err
	}
	os.Remove(s.boot.img)
	os.Remove(s.root.img)
	sha, err := cache.FileSHA256(raw)
	if err != nil {
		return err
	}
	s.res.RawSHA256 = sha
	alloc, _ := disk.Allocated(raw)
	s.out = rawDisk{path: raw, sha: sha, layout: l, alloc: alloc}
	return nil
}

// formatStep is "Format <name>": the raw image written in one format
// into the staging directory.
type formatStep struct {
	b       *Builder
	f       format.Format
	checked *checked
	tools   *toolsResult
	disk    *rawDisk
	ws      *workspace
	outputs *outputs
	written bool
	size    int64 // of the format's file
}

func (s *formatStep) Title() string { return "Format " + s.f.Name }

func (s *formatStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "%s%s: %s", s.b.name, s.f.Ext, s.f.Doc)
}

func (s *formatStep) Detail() string {
	if !s.written {
		return ""
	}
	return humanize.Bytes(s.size)
}

func (s *formatStep) Run(ctx context.Context) error {
	b, f := s.b, s.f
	sp := &b.opts.Spec.Spec
	env := &format.Env{
		Tools: s.tools.tree, Log: phase.Output(ctx), Name: b.name,
		MemoryMiB: sp.Node.Memory.Value() >> 20, CPUs: int((sp.Node.CPU.MilliValue() + 999) / 1000),
		Arch: b.board.Arch, Seed: s.checked.seed,
		ZstdLevel: b.opts.ZstdLevel, XzLevel: b.opts.XzLevel,
	}
	dst := filepath.Join(s.ws.stage, b.name+f.Ext)
	extra, err := f.Write(ctx, env, s.disk.path, dst)
	if err != nil {
		return fmt.Errorf("format %s: %w", f.Name, err)
	}
	for _, p := range append([]string{dst}, extra...) {
		o, err := describe(f.Name, p)
		if err != nil {
			return fmt.Errorf("format %s: %w", f.Name, err)
		}
		if p == dst {
			s.size = o.Size
		}
		s.outputs.add(o)
	}
	s.written = true
	return nil
}

// describe is the Output of the file p written for a format.
func describe(formatName, p string) (Output, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return Output{}, err
	}
	sha, err := cache.FileSHA256(p)
	if err != nil {
		return Output{}, err
	}
	alloc, _ := disk.Allocated(p)
	if strings.HasSuffix(p, format.BmapExt) {
		formatName = "bmap"
	}
	return Output{Format: formatName, File: filepath.Base(p), Size: fi.Size(), Allocated: alloc, SHA256: sha}, nil
}
