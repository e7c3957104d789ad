package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image/debian"
	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// DefaultEpoch is the SOURCE_DATE_EPOCH of builds when neither the
// options nor the environment set one (2025-01-01T00:00:00Z).
const DefaultEpoch int64 = 1735689600

// ResolveEpoch is the SOURCE_DATE_EPOCH a build uses: epoch when set, else
// $SOURCE_DATE_EPOCH, else DefaultEpoch.
func ResolveEpoch(epoch int64) (int64, error) {
	if epoch != 0 {
		return epoch, nil
	}
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return DefaultEpoch, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH %q: expected seconds since 1970", v)
	}
	return n, nil
}

// Options configure a build.
type Options struct {
	// Spec is a defaulted, validated spec document.
	Spec *spec.Document
	// Payload is written into the root file system (Files through
	// payload.WriteTree semantics, Dirs copied keeping modes, owners,
	// links and xattrs). It may be nil for an OS-only image.
	Payload *payload.Payload
	// EnableUnits are systemd units (from the payload or the base) to
	// enable through their [Install] sections, e.g. k0scontroller.service.
	EnableUnits []string
	// Images are recorded in edgeimg.lock.
	Images []pinned.Image
	// Source, when set, produces the payload, units and images during the
	// build, as phases of its own (render, k0s binary, images); it takes
	// the place of Payload, EnableUnits and Images.
	Source PayloadSource
	// Formats overrides spec.output.formats.
	Formats []string
	// OutDir receives the outputs.
	OutDir string
	// Force replaces existing outputs.
	Force bool
	// DryRun prints what would be built and changes nothing.
	DryRun bool
	// Cache is the download and artifact cache (nil: the default root).
	Cache *cache.Cache
	// Epoch is SOURCE_DATE_EPOCH (0: $SOURCE_DATE_EPOCH, else DefaultEpoch).
	Epoch int64
	// ToolsMirror is the Debian mirror of the tools tree (trixie); empty
	// means spec.os.mirror.
	ToolsMirror string
	// ZstdLevel and XzLevel override the compression levels.
	ZstdLevel, XzLevel int
	// Status receives one line per phase (nil: discarded).
	Status io.Writer
	// Live redraws status lines with byte progress (Status is a terminal).
	Live bool
}

// PayloadSource produces the node payload as build phases. Result is read
// after its phases ran.
type PayloadSource interface {
	Phases() []phase.Phase
	Result() (p *payload.Payload, enableUnits []string, images []pinned.Image)
}

// Output is one file written.
type Output struct {
	Format    string `yaml:"format" json:"format"`
	File      string `yaml:"file" json:"file"`
	Size      int64  `yaml:"size" json:"size"`
	Allocated int64  `yaml:"allocated" json:"allocated"`
	SHA256    string `yaml:"sha256" json:"sha256"`
}

// Result is what a build produced.
type Result struct {
	Outputs []Output
	// RawSHA256 is the sha256 of the raw image (built even when raw is
	// not an output format).
	RawSHA256 string
	Lock      *Lock
	// LogPath is the debug log: in OutDir after success, in the temp dir
	// after a failure.
	LogPath string
	Phases  []phase.Result
}

// Builder builds one image.
type Builder struct {
	opts    Options
	board   *Board
	formats []string
	epoch   int64
	name    string
	cache   *cache.Cache
}

// NewBuilder checks the options (board, formats, output directory) before
// anything is built.
func NewBuilder(o Options) (*Builder, error) {
	if o.Spec == nil {
		return nil, errors.New("image: no spec")
	}
	s := &o.Spec.Spec
	board, err := LookupBoard(s.Board)
	if err != nil {
		return nil, err
	}
	formats := o.Formats
	if len(formats) == 0 {
		formats = s.Output.Formats
	}
	if len(formats) == 0 {
		formats = []string{"raw"}
	}
	known := format.Formats()
	var fs []string
	for _, f := range formats {
		if _, ok := known[f]; !ok {
			return nil, fmt.Errorf("format %q: unknown: expected one of %s", f, strings.Join(format.Names(), ", "))
		}
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	for _, f := range fs {
		if err := known[f].CheckArch(board.Arch); err != nil {
			return nil, fmt.Errorf("format %s: %w (board %s)", f, err, board.Name)
		}
	}
	if o.OutDir == "" {
		return nil, errors.New("image: no output directory (-o DIR)")
	}
	epoch, err := ResolveEpoch(o.Epoch)
	if err != nil {
		return nil, err
	}
	c := o.Cache
	if c == nil {
		if c, err = cache.New(""); err != nil {
			return nil, err
		}
	}
	b := &Builder{opts: o, board: board, formats: fs, epoch: epoch, cache: c,
		name: o.Spec.Metadata.Name + "-" + board.Name}
	return b, nil
}

// Board returns the board being built.
func (b *Builder) Board() *Board { return b.board }

// Formats returns the formats being written.
func (b *Builder) Formats() []string { return append([]string(nil), b.formats...) }

// OutputNames lists the files a build writes into OutDir.
func (b *Builder) OutputNames() []string {
	known := format.Formats()
	var out []string
	bmap := false
	for _, f := range b.formats {
		out = append(out, b.name+known[f].Ext)
		bmap = bmap || known[f].Bmap
	}
	if bmap {
		out = append(out, b.name+format.BmapExt)
	}
	return append(out, LockName, SumsName, b.name+".build.log")
}

// Names of the files written next to the image.
const (
	LockName = "edgeimg.lock"
	SumsName = "SHA256SUMS"
)

// checkOutputs refuses to overwrite existing outputs without Force.
func (b *Builder) checkOutputs() error {
	if b.opts.Force {
		return nil
	}
	var exist []string
	for _, n := range b.OutputNames() {
		if _, err := os.Lstat(filepath.Join(b.opts.OutDir, n)); err == nil {
			exist = append(exist, n)
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("%s: %s already exist (use --force to replace them)", b.opts.OutDir, strings.Join(exist, ", "))
	}
	return nil
}

// Build runs every phase and, when all succeed, moves the outputs into
// OutDir. On failure nothing is left in OutDir (a directory it created is
// removed again) and the debug log is kept in the temp dir.
func (b *Builder) Build(ctx context.Context) (*Result, error) {
	if err := b.checkOutputs(); err != nil {
		return nil, err
	}
	res, ws := &Result{}, &workspace{}
	m := &phase.Manager{Out: b.opts.Status, DryRun: b.opts.DryRun, Live: b.opts.Live}
	m.Add(b.phases(ws, res)...)
	if b.opts.DryRun {
		err := m.Run(ctx)
		if b.opts.Status != nil {
			fmt.Fprintf(b.opts.Status, "would write to %s: %s\n", b.opts.OutDir, strings.Join(b.OutputNames(), ", "))
		}
		res.Phases = m.Results()
		return res, err
	}

	createdOut := false
	if _, err := os.Stat(b.opts.OutDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(b.opts.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
		createdOut = true
	}
	stage, err := os.MkdirTemp(b.opts.OutDir, ".edgeimg-build-*")
	if err != nil {
		if createdOut {
			os.Remove(b.opts.OutDir)
		}
		return nil, fmt.Errorf("output directory: %w", err)
	}
	// The stage goes however Build returns (a panic in a phase included):
	// on success the outputs were renamed out of it first.
	defer os.RemoveAll(stage)
	// abandon removes what this build created before the debug log exists.
	abandon := func(err error) (*Result, error) {
		os.RemoveAll(stage)
		if createdOut {
			os.Remove(b.opts.OutDir)
		}
		return nil, err
	}
	ws.stage = stage
	ws.work = filepath.Join(stage, "work")
	if err := os.Mkdir(ws.work, 0o755); err != nil {
		return abandon(fmt.Errorf("staging directory: %w", err))
	}
	logPath := filepath.Join(stage, b.name+".build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return abandon(fmt.Errorf("build log: %w", err))
	}
	m.Log = logf
	fmt.Fprintf(logf, "edgeimg build %s: board %s, formats %s, epoch %d, cache %s, %d CPUs\n",
		b.name, b.board.Name, strings.Join(b.formats, ","), b.epoch, b.cache.Root, runtime.NumCPU())

	fail := func(err error) (*Result, error) {
		logf.Close()
		kept := filepath.Join(os.TempDir(), fmt.Sprintf("edgeimg-%s-%d.build.log", b.name, time.Now().Unix()))
		if copyFile(logPath, kept) == nil {
			res.LogPath = kept
		}
		os.RemoveAll(stage)
		if createdOut {
			os.Remove(b.opts.OutDir)
		}
		if res.LogPath != "" {
			err = fmt.Errorf("%w\n(debug log: %s)", err, res.LogPath)
		}
		return res, err
	}
	runErr := m.Run(ctx)
	res.Phases = m.Results()
	if runErr != nil {
		return fail(runErr)
	}
	// Commit: everything is complete in the stage; rename file by file.
	if err := b.checkOutputs(); err != nil {
		return fail(err)
	}
	logf.Close()
	for _, n := range b.OutputNames() {
		src := filepath.Join(stage, n)
		if _, err := os.Lstat(src); err != nil {
			return fail(fmt.Errorf("output %s was not written", n))
		}
	}
	for _, n := range b.OutputNames() {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(b.opts.OutDir, n)); err != nil {
			return fail(fmt.Errorf("commit %s: %w", n, err))
		}
	}
	res.LogPath = filepath.Join(b.opts.OutDir, b.name+".build.log")
	return res, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SpecSHA256 hashes the canonical form of the spec.
func SpecSHA256(d *spec.Document) (string, error) {
	data, err := d.Marshal()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), nil
}

// CheckEmulation returns the error a build would stop with because the
// board's architecture cannot run on this host (no qemu-user binfmt),
// or nil when the build can go ahead: the Debian base is cached, the
// architecture is the host's, or the emulation is registered.
func (b *Builder) CheckEmulation() error {
	if b.opts.Spec.Spec.OS.Rootfs != "" {
		return nil
	}
	bs := b.baseSpec()
	if debian.Cached(b.cache, bs) {
		return nil
	}
	return debian.CheckForeignArch(bs.Arch)
}
