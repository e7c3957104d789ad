package image

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/image/debian"
	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// toolsResult is the tools tree that makes the image bytes.
type toolsResult struct {
	tree *tools.Tree
	// versions are its package versions by name.
	versions map[string]string
	built    bool
}

// toolsStep is "Tools tree": the cached Debian tools tree (mke2fs,
// qemu-img, zstd, xz), built on first use.
type toolsStep struct {
	b   *Builder
	out toolsResult
}

func (s *toolsStep) Title() string { return "Tools tree" }

func (s *toolsStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "Debian %s tools (%s) from %s, cached by key", tools.Suite, strings.Join(tools.Packages, ", "), s.b.toolsMirror())
}

func (s *toolsStep) Run(ctx context.Context) error {
	t, built, err := tools.Ensure(ctx, s.b.cache, tools.Spec{Mirror: s.b.toolsMirror()}, phase.Output(ctx))
	if err != nil {
		return err
	}
	v, err := t.Versions()
	if err != nil {
		return err
	}
	s.out = toolsResult{tree: t, versions: v, built: built}
	return nil
}

func (s *toolsStep) Detail() string {
	if s.out.tree == nil {
		return ""
	}
	d := "cached"
	if s.out.built {
		d = "built"
	}
	return d + ", e2fsprogs " + s.out.versions["e2fsprogs"]
}

func (b *Builder) toolsMirror() string {
	if b.opts.ToolsMirror != "" {
		return b.opts.ToolsMirror
	}
	return b.opts.Spec.Spec.OS.Mirror
}

// base is the root file system's base: an uncompressed tar.
type base struct {
	tar string
	// key is the cache key ("rootfs:<sha256>" for spec.os.rootfs), sha the
	// tar's digest as given.
	key, sha string
	// debian is the Debian base's spec (nil for spec.os.rootfs).
	debian *debian.Spec
	detail string
}

// baseSpec is the Debian base the spec and board ask for, with the
// packages the payload needs (payload.Packages; unknown before the payload
// is rendered, which only makes an early cache check miss).
func (b *Builder) baseSpec(payloadPackages ...string) debian.Spec {
	s := &b.opts.Spec.Spec
	pk := append([]string(nil), debian.CorePackages...)
	pk = append(pk, b.board.Packages...)
	if s.SSH.Enabled {
		pk = append(pk, "openssh-server")
	}
	pk = append(pk, s.OS.Packages...)
	pk = append(pk, payloadPackages...)
	bs := debian.Spec{Suite: s.OS.Suite, Arch: b.board.Arch, Mirror: s.OS.Mirror, Components: b.board.Components, Packages: pk, SourceDateEpoch: b.epoch}
	bs.Normalize()
	return bs
}

// debianStep is "Debian base": the cached mmdebstrap base, built on first
// use.
type debianStep struct {
	b       *Builder
	payload *nodePayload
	out     base
}

func (s *debianStep) spec() debian.Spec {
	if s.payload != nil && s.payload.p != nil {
		return s.b.baseSpec(s.payload.p.Packages...)
	}
	return s.b.baseSpec()
}

func (s *debianStep) Title() string  { return "Debian base" }
func (s *debianStep) Detail() string { return s.out.detail }

func (s *debianStep) DryRun(_ context.Context, w io.Writer) error {
	bs := s.spec()
	return dryLine(w, "mmdebstrap %s/%s from %s (cache key %s), packages: %s", bs.Suite, bs.Arch, bs.Mirror, bs.Key(), strings.Join(bs.Packages, " "))
}

func (s *debianStep) Run(ctx context.Context) error {
	bs := s.spec()
	s.out.debian = &bs
	db, err := debian.Ensure(ctx, s.b.cache, bs, phase.Output(ctx))
	if err != nil {
		return err
	}
	s.out.tar, s.out.key = db.Path, db.Key
	if s.out.sha, err = cache.FileSHA256(db.Path); err != nil {
		return err
	}
	fi, err := os.Stat(db.Path)
	if err != nil {
		return fmt.Errorf("debian base: %w", err)
	}
	s.out.detail = fmt.Sprintf("%s, %s %s", map[bool]string{true: "cached", false: "built"}[db.Cached], bs.Suite, humanize.Bytes(fi.Size()))
	return nil
}

// tarballStep is "Root file system base": spec.os.rootfs, a tar,
// optionally gzip-, zstd- or xz-compressed (decompressed into the work
// directory).
type tarballStep struct {
	b     *Builder
	tools *toolsResult
	ws    *workspace
	out   base
}

func (s *tarballStep) Title() string  { return "Root file system base" }
func (s *tarballStep) Detail() string { return s.out.detail }

func (s *tarballStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "base: %s (spec.os.rootfs)", s.b.opts.Spec.Spec.OS.Rootfs)
}

func (s *tarballStep) Run(ctx context.Context) error {
	src := s.b.opts.Spec.Spec.OS.Rootfs
	sha, err := cache.FileSHA256(src)
	if err != nil {
		return fmt.Errorf("spec.os.rootfs: %w", err)
	}
	s.out.sha, s.out.key = sha, "rootfs:"+sha
	dst, err := s.decompress(ctx, src)
	if err != nil {
		return err
	}
	if _, err := rootfs.ReadIndex(dst, nil); err != nil {
		return fmt.Errorf("spec.os.rootfs %s: expected a tar (optionally .gz, .zst or .xz): %w", src, err)
	}
	s.out.tar = dst
	s.out.detail = "spec.os.rootfs " + filepath.Base(src)
	return nil
}

// decompress returns the tar of src: src itself, or a decompressed copy
// in the work directory, picked by the magic number.
func (s *tarballStep) decompress(ctx context.Context, src string) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	magic = magic[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("spec.os.rootfs %s: %w", src, err)
	}
	dst := filepath.Join(s.ws.work, "base.tar")
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return "", fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
		if err := fsutil.WriteWith(dst, 0o644, func(w io.Writer) error { _, err := io.Copy(w, zr); return err }); err != nil {
			return "", fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
	case n >= 4 && string(magic[:4]) == "\x28\xb5\x2f\xfd":
		if err := s.tools.tree.Run(ctx, phase.Output(ctx), nil, "zstd", "-q", "-d", "-f", "-o", dst, src); err != nil {
			return "", fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
	case n >= 6 && string(magic) == "\xfd7zXZ\x00":
		cmd, err := s.tools.tree.Command(ctx, nil, "xz", "-d", "-c", src)
		if err != nil {
			return "", err
		}
		out, err := os.Create(dst)
		if err != nil {
			return "", err
		}
		cmd.Stdout = out
		err = cmd.Run()
		out.Close()
		if err != nil {
			return "", fmt.Errorf("spec.os.rootfs %s: xz: %w", src, err)
		}
	default:
		return src, nil
	}
	return dst, nil
}
