package image

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/overlays"
	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/image/debian"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// state is what phases hand to each other.
type state struct {
	b     *Builder
	res   *Result
	stage string // staging dir inside OutDir
	work  string // intermediate files

	specSHA  string
	payload  *payload.Payload
	units    []string
	images   []pinned.Image
	baseSpec debian.Spec
	tools    *tools.Tree
	baseTar  string
	baseKey  string
	baseSHA  string
	index    *rootfs.Index
	kernel   string // kernel version
	rootTar  string
	stats    rootfs.Stats
	layout   *disk.Layout
	bootImg  string
	rootImg  string
	raw      string
	rawSHA   string
	outputs  []Output
	detail   map[string]string
	toolsVer map[string]string
}

// phaseFunc adapts a function to phase.Phase.
type phaseFunc struct {
	title  string
	run    func(ctx context.Context) error
	dry    func(w io.Writer) error
	detail func() string
}

func (p *phaseFunc) Title() string                 { return p.title }
func (p *phaseFunc) Run(ctx context.Context) error { return p.run(ctx) }
func (p *phaseFunc) DryRun(_ context.Context, w io.Writer) error {
	if p.dry == nil {
		return nil
	}
	return p.dry(w)
}
func (p *phaseFunc) Detail() string {
	if p.detail == nil {
		return ""
	}
	return p.detail()
}

func (b *Builder) phases(st *state) []phase.Phase {
	st.detail = map[string]string{}
	s := &b.opts.Spec.Spec
	st.payload, st.units, st.images = b.opts.Payload, b.opts.EnableUnits, b.opts.Images
	ps := []phase.Phase{
		&phaseFunc{title: "Check inputs", run: st.checkInputs, dry: st.dryInputs},
	}
	if b.opts.Source != nil {
		ps = append(ps, b.opts.Source.Phases()...)
		ps = append(ps, &phaseFunc{title: "Payload", run: st.takePayload, detail: st.get("payload")})
	}
	ps = append(ps, []phase.Phase{
		&phaseFunc{title: "Tools tree", run: st.toolsTree, detail: st.get("tools"),
			dry: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Debian %s tools (%s) from %s, cached by key\n", tools.Suite, strings.Join(tools.Packages, ", "), b.toolsMirror())
				return err
			}},
	}...)
	if s.OS.Rootfs != "" {
		ps = append(ps, &phaseFunc{title: "Root file system base", run: st.rootfsBase, detail: st.get("base"),
			dry: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "base: %s (spec.os.rootfs)\n", s.OS.Rootfs)
				return err
			}})
	} else {
		ps = append(ps, &phaseFunc{title: "Debian base", run: st.debianBase, detail: st.get("base"),
			dry: func(w io.Writer) error {
				bs := b.baseSpec()
				_, err := fmt.Fprintf(w, "mmdebstrap %s/%s from %s (cache key %s), packages: %s\n", bs.Suite, bs.Arch, bs.Mirror, bs.Key(), strings.Join(bs.Packages, " "))
				return err
			}})
	}
	ps = append(ps,
		&phaseFunc{title: "Root file system", run: st.rootTree, detail: st.get("tree"),
			dry: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "overlays, first-boot units, payload (%d files, %d trees), units enabled: %s\n", st.payloadFiles(), st.payloadDirs(), strings.Join(st.unitsToEnable(), " "))
				return err
			}},
		&phaseFunc{title: "Boot partition", run: st.bootPartition, detail: st.get("boot"),
			dry: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "FAT32 %s (%s, %s), %s\n", b.board.BootPartition.Label, b.board.BootPartition.Size, b.board.PartitionTable, b.board.Bootloader)
				return err
			}},
		&phaseFunc{title: "Root partition", run: st.rootPartition, detail: st.get("root"),
			dry: func(w io.Writer) error {
				_, err := fmt.Fprintln(w, "ext4 by mke2fs -d from the composed tar, e2fsck -fn")
				return err
			}},
		&phaseFunc{title: "Disk image", run: st.diskImage, detail: st.get("disk"),
			dry: func(w io.Writer) error {
				size := "content plus headroom"
				if s.Disk.Size.IsSet() {
					size = s.Disk.Size.String()
				}
				_, err := fmt.Fprintf(w, "%s disk, %s, root by PARTUUID\n", b.board.PartitionTable, size)
				return err
			}},
	)
	known := format.Formats()
	for _, f := range b.formats {
		ff := known[f]
		ps = append(ps, &phaseFunc{title: "Format " + f, run: func(ctx context.Context) error { return st.writeFormat(ctx, ff) }, detail: st.get("format " + f),
			dry: func(w io.Writer) error { _, err := fmt.Fprintf(w, "%s%s: %s\n", b.name, ff.Ext, ff.Doc); return err }})
	}
	ps = append(ps, &phaseFunc{title: "Lock file", run: st.lockFile,
		dry: func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s (debs, tools, payload sha256, image digests, outputs) and %s\n", LockName, SumsName)
			return err
		}})
	return ps
}

func (st *state) get(key string) func() string { return func() string { return st.detail[key] } }

func (b *Builder) toolsMirror() string {
	if b.opts.ToolsMirror != "" {
		return b.opts.ToolsMirror
	}
	return b.opts.Spec.Spec.OS.Mirror
}

// baseSpec is the Debian base the spec and board ask for.
func (b *Builder) baseSpec() debian.Spec {
	s := &b.opts.Spec.Spec
	pk := append([]string(nil), debian.CorePackages...)
	pk = append(pk, b.board.Packages...)
	if s.SSH.Enabled {
		pk = append(pk, "openssh-server")
	}
	pk = append(pk, s.OS.Packages...)
	bs := debian.Spec{Suite: s.OS.Suite, Arch: b.board.Arch, Mirror: s.OS.Mirror, Components: b.board.Components, Packages: pk, SourceDateEpoch: b.epoch}
	bs.Normalize()
	return bs
}

func (st *state) payloadFiles() int {
	if st.payload == nil {
		return 0
	}
	return len(st.payload.Files)
}

func (st *state) payloadDirs() int {
	if st.payload == nil {
		return 0
	}
	return len(st.payload.Dirs)
}

// takePayload reads what the payload source produced and checks it.
func (st *state) takePayload(context.Context) error {
	st.payload, st.units, st.images = st.b.opts.Source.Result()
	if st.payload == nil {
		return fmt.Errorf("the payload source produced no payload")
	}
	if err := st.checkPayload(); err != nil {
		return err
	}
	var bytes int64
	for _, f := range st.payload.Files {
		bytes += f.Size
	}
	st.detail["payload"] = fmt.Sprintf("%d files (%s), %d trees, %d images", len(st.payload.Files), humanize.Bytes(bytes), len(st.payload.Dirs), len(st.images))
	return nil
}

func (st *state) checkPayload() error {
	p := st.payload
	if p == nil {
		return nil
	}
	if err := p.Seal(); err != nil {
		return err
	}
	for node, src := range p.Dirs {
		fi, err := os.Stat(src)
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("payload directory %s: %s is not a directory", node, src)
		}
	}
	return nil
}

// unitsToEnable is edgeimg's own units plus the caller's.
func (st *state) unitsToEnable() []string {
	b := st.b
	units := []string{"edgeimg-growroot.service", "edgeimg-device.service", "systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service", "systemd-timesyncd.service"}
	if b.opts.Spec.Spec.SSH.Enabled {
		units = append(units, "edgeimg-ssh-hostkeys.service", "ssh.service")
	}
	for _, u := range st.units {
		if !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	return units
}

func (st *state) dryInputs(w io.Writer) error {
	b := st.b
	fmt.Fprintf(w, "board %s (%s, %s), formats %s, SOURCE_DATE_EPOCH %d\n", b.board.Name, b.board.Arch, b.board.Description, strings.Join(b.formats, ", "), b.epoch)
	return st.checkInputs(context.Background())
}

func (st *state) checkInputs(ctx context.Context) error {
	b := st.b
	s := &b.opts.Spec.Spec
	var err error
	if st.specSHA, err = SpecSHA256(b.opts.Spec); err != nil {
		return err
	}
	if s.OS.Kernel != "" {
		return fmt.Errorf("spec.os.kernel %q: a kernel other than Debian's is not supported yet (board %s uses Debian's kernel)", s.OS.Kernel, b.board.Name)
	}
	if b.opts.Source == nil {
		if err := st.checkPayload(); err != nil {
			return err
		}
	}
	if s.OS.Rootfs != "" {
		if _, err := os.Stat(s.OS.Rootfs); err != nil {
			return fmt.Errorf("spec.os.rootfs: %w", err)
		}
		return nil
	}
	bs := b.baseSpec()
	if debian.Cached(b.cache, bs) {
		return nil // cached: no mmdebstrap, no emulation needed
	}
	return debian.Preflight(ctx, bs)
}

func (st *state) toolsTree(ctx context.Context) error {
	t, built, err := tools.Ensure(ctx, st.b.cache, tools.Spec{Mirror: st.b.toolsMirror()}, phase.Output(ctx))
	if err != nil {
		return err
	}
	st.tools = t
	st.toolsVer, err = t.Versions()
	if err != nil {
		return err
	}
	st.detail["tools"] = "cached"
	if built {
		st.detail["tools"] = "built"
	}
	st.detail["tools"] += ", e2fsprogs " + st.toolsVer["e2fsprogs"]
	return nil
}

func (st *state) debianBase(ctx context.Context) error {
	bs := st.b.baseSpec()
	st.baseSpec = bs
	base, err := debian.Ensure(ctx, st.b.cache, bs, phase.Output(ctx))
	if err != nil {
		return err
	}
	st.baseTar, st.baseKey = base.Path, base.Key
	if st.baseSHA, err = cache.FileSHA256(base.Path); err != nil {
		return err
	}
	fi, err := os.Stat(base.Path)
	if err != nil {
		return fmt.Errorf("debian base: %w", err)
	}
	st.detail["base"] = fmt.Sprintf("%s, %s %s", map[bool]string{true: "cached", false: "built"}[base.Cached], bs.Suite, humanize.Bytes(fi.Size()))
	return nil
}

// rootfsBase uses spec.os.rootfs: a tar, optionally gzip/zstd/xz-compressed.
func (st *state) rootfsBase(ctx context.Context) error {
	src := st.b.opts.Spec.Spec.OS.Rootfs
	sha, err := cache.FileSHA256(src)
	if err != nil {
		return fmt.Errorf("spec.os.rootfs: %w", err)
	}
	st.baseSHA, st.baseKey = sha, "rootfs:"+sha
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	magic = magic[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spec.os.rootfs %s: %w", src, err)
	}
	dst := filepath.Join(st.work, "base.tar")
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
		if err := fsutil.WriteWith(dst, 0o644, func(w io.Writer) error { _, err := io.Copy(w, zr); return err }); err != nil {
			return fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
	case n >= 4 && string(magic[:4]) == "\x28\xb5\x2f\xfd":
		if err := st.tools.Run(ctx, phase.Output(ctx), nil, "zstd", "-q", "-d", "-f", "-o", dst, src); err != nil {
			return fmt.Errorf("spec.os.rootfs %s: %w", src, err)
		}
	case n >= 6 && string(magic) == "\xfd7zXZ\x00":
		cmd, err := st.tools.Command(ctx, nil, "xz", "-d", "-c", src)
		if err != nil {
			return err
		}
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		cmd.Stdout = out
		err = cmd.Run()
		out.Close()
		if err != nil {
			return fmt.Errorf("spec.os.rootfs %s: xz: %w", src, err)
		}
	default:
		dst = src
	}
	if _, err := rootfs.ReadIndex(dst, nil); err != nil {
		return fmt.Errorf("spec.os.rootfs %s: expected a tar (optionally .gz, .zst or .xz): %w", src, err)
	}
	st.baseTar = dst
	st.detail["base"] = "spec.os.rootfs " + filepath.Base(src)
	return nil
}

// capture selects the base files the build reads: boot files, unit files,
// the package database.
func (st *state) capture(p string) bool {
	b := st.b.board
	switch {
	case strings.HasPrefix(p, "/boot/vmlinuz-"), strings.HasPrefix(p, "/boot/initrd.img-"):
		return true
	case p == b.EFIBinary, p == "/var/lib/dpkg/status":
		return true
	case strings.HasPrefix(p, "/usr/lib/raspi-firmware/"):
		return b.Bootloader == BootRPiFirmware
	case strings.HasPrefix(p, "/usr/lib/linux-image-") && strings.Contains(p, "/broadcom/"):
		return b.Bootloader == BootRPiFirmware
	}
	for _, d := range unitDirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func (st *state) rootTree(ctx context.Context) error {
	b := st.b
	s := &b.opts.Spec.Spec
	ix, err := rootfs.ReadIndex(st.baseTar, st.capture)
	if err != nil {
		return err
	}
	st.index = ix
	kernels := ix.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		return fmt.Errorf("the base has no kernel (/boot/vmlinuz-*): board %s needs %s", b.board.Name, strings.Join(b.board.Packages, ", "))
	}
	sort.Slice(kernels, func(i, j int) bool { return versionLess(kernels[i], kernels[j]) })
	st.kernel = strings.TrimPrefix(kernels[len(kernels)-1], "/boot/vmlinuz-")
	if _, ok := ix.Files["/boot/initrd.img-"+st.kernel]; !ok {
		return fmt.Errorf("the base has no initrd for kernel %s (/boot/initrd.img-%s)", st.kernel, st.kernel)
	}

	t := rootfs.NewTree()
	// Nothing host- or build-specific, and nothing that must be unique
	// per node, stays in the image.
	for _, pat := range []string{
		"/etc/ssh/ssh_host_*",
		"/etc/systemd/system/*.wants/sshd-keygen.service",
		"/etc/systemd/system/timers.target.wants/apt-daily.timer",
		"/etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer",
		"/var/lib/dbus/machine-id",
		"/var/lib/systemd/random-seed",
		"/var/log/*.log",
		"/var/cache/apt/*.bin",
		// The kernel and initrd boot from the boot partition; the root
		// keeps no second copy (apt's kernel hooks write them again on an
		// upgrade).
		"/boot/vmlinuz-*", "/boot/initrd.img-*",
		"/vmlinuz", "/vmlinuz.old", "/initrd.img", "/initrd.img.old",
	} {
		t.Remove(pat)
	}
	mount := b.board.BootPartition.MountPoint
	t.Remove(mount + "/**")
	t.AddDir(mount, 0o700)
	t.AddFile("/etc/machine-id", 0o444, nil)
	t.AddFile("/etc/hostname", 0o644, []byte(s.OS.Hostname+"\n"))
	t.AddFile("/etc/hosts", 0o644, []byte(fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n", s.OS.Hostname)))

	// Disk layout first: fstab and the boot entry name the partitions.
	seed := st.specSHA + "/" + b.board.Name
	bootSize := b.board.BootPartition.Size.Value()
	l, err := disk.NewLayout(b.board.PartitionTable, b.board.Arch, bootSize, disk.MiB, seed)
	if err != nil {
		return err
	}
	st.layout = l
	t.AddFile("/etc/fstab", 0o644, []byte(fmt.Sprintf("# Written by edgeimg: partitions by PARTUUID.\nPARTUUID=%s\t/\text4\tdefaults,noatime,commit=60\t0 1\nPARTUUID=%s\t%s\tvfat\tumask=0077,noatime,nofail,x-systemd.device-timeout=90s\t0 2\n",
		l.PARTUUID(&l.Root), l.PARTUUID(&l.Boot), mount)))

	mountUnit := strings.ReplaceAll(strings.Trim(mount, "/"), "/", "-") + ".mount"
	layers := []string{"base"}
	if s.SSH.Enabled {
		layers = append(layers, "ssh")
	}
	for _, layer := range layers {
		if err := addOverlay(t, layer, map[string]string{"@BOOT_MOUNT_UNIT@": mountUnit}); err != nil {
			return err
		}
	}
	t.AddFile("/etc/edgeimg/image.env", 0o644, []byte(fmt.Sprintf("# Written by edgeimg build.\nEDGEIMG_IMAGE=%q\nEDGEIMG_BOARD=%q\nEDGEIMG_BOOT_MOUNT=%q\nEDGEIMG_SPEC_SHA256=%q\n",
		b.opts.Spec.Metadata.Name, b.board.Name, mount, st.specSHA)))
	defaults := device.DefaultsEnv(s.OS.Hostname, s.MetalLB.Addresses)
	t.AddFile(device.DefaultsEnvFile, 0o644, defaults)
	t.AddFile(device.EnvFile, 0o644, defaults)
	t.AddFile(device.RulesFile, 0o644, device.RenderRules())
	keys := strings.Join(s.SSH.AuthorizedKeys, "\n")
	if keys != "" {
		keys += "\n"
	}
	t.AddFile("/etc/edgeimg/authorized_keys", 0o644, []byte(keys))
	if s.SSH.Enabled {
		t.AddDir("/root/.ssh", 0o700)
		t.AddFile("/root/.ssh/authorized_keys", 0o600, []byte(keys))
	}

	if p := st.payload; p != nil {
		for i := range p.Files {
			f := &p.Files[i]
			var err error
			if f.Source != "" {
				err = t.Set(f.Path, &rootfs.Entry{Kind: rootfs.File, Mode: f.Mode, Source: f.Source, Size: f.Size})
			} else {
				err = t.AddFile(f.Path, f.Mode, f.Data)
			}
			if err != nil {
				return fmt.Errorf("payload %s: %w", f.Path, err)
			}
		}
		nodes := make([]string, 0, len(p.Dirs))
		for n := range p.Dirs {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			if err := t.AddHostTree(n, p.Dirs[n]); err != nil {
				return fmt.Errorf("payload directory %s: %w", n, err)
			}
		}
	}
	if err := enableUnits(t, ix, st.unitsToEnable()); err != nil {
		return err
	}

	st.rootTar = filepath.Join(st.work, "rootfs.tar")
	out, err := os.Create(st.rootTar)
	if err != nil {
		return err
	}
	stats, err := rootfs.Compose(out, st.baseTar, t, time.Unix(b.epoch, 0))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st.stats = stats
	st.detail["tree"] = fmt.Sprintf("%d entries, %s, kernel %s", stats.Entries, humanize.Bytes(stats.Bytes), st.kernel)
	return nil
}

// addOverlay adds overlays/<layer>/ to the tree, replacing placeholders.
func addOverlay(t *rootfs.Tree, layer string, vars map[string]string) error {
	return fs.WalkDir(overlays.FS, layer, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(overlays.FS, p)
		if err != nil {
			return err
		}
		for k, v := range vars {
			data = []byte(strings.ReplaceAll(string(data), k, v))
		}
		node := "/" + strings.TrimPrefix(p, layer+"/")
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(node, "/usr/lib/edgeimg/") && !strings.HasSuffix(node, ".awk") {
			mode = 0o755
		}
		return t.AddFile(node, mode, data)
	})
}

// versionLess orders kernel file names by their version numbers.
func versionLess(a, b string) bool {
	na, nb := numbers(a), numbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	return len(na) < len(nb)
}

func numbers(s string) []int {
	var out []int
	n, in := 0, false
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n, in = n*10+int(c-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
	}
	if in {
		out = append(out, n)
	}
	return out
}

func (st *state) bootFiles() ([]disk.FATFile, error) {
	b := st.b
	ix := st.index
	l := st.layout
	kernel := ix.Files["/boot/vmlinuz-"+st.kernel]
	initrd := ix.Files["/boot/initrd.img-"+st.kernel]
	cmdline := fmt.Sprintf("root=PARTUUID=%s %s", l.PARTUUID(&l.Root), b.board.Cmdline)
	files := []disk.FATFile{
		{Path: "/vmlinuz", Data: kernel},
		{Path: "/initrd.img", Data: initrd},
		{Path: "/" + device.FileName + ".example", Data: []byte(device.Example)},
	}
	switch b.board.Bootloader {
	case BootSystemdBoot:
		efi, ok := ix.Files[b.board.EFIBinary]
		if !ok {
			return nil, fmt.Errorf("the base has no %s: board %s needs systemd-boot-efi", b.board.EFIBinary, b.board.Name)
		}
		files = append(files,
			disk.FATFile{Path: "/EFI/BOOT/" + b.board.EFIBootName, Data: efi},
			disk.FATFile{Path: "/loader/loader.conf", Data: []byte("default edgeimg.conf\ntimeout 0\neditor no\nconsole-mode keep\n")},
			disk.FATFile{Path: "/loader/entries/edgeimg.conf", Data: []byte(fmt.Sprintf("title %s (edgeimg, Debian %s)\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n",
				b.opts.Spec.Metadata.Name, b.opts.Spec.Spec.OS.Suite, cmdline))},
		)
	case BootRPiFirmware:
		have := map[string]bool{}
		for p, data := range ix.Files {
			var rel string
			switch {
			case strings.HasPrefix(p, "/usr/lib/raspi-firmware/"):
				rel = strings.TrimPrefix(p, "/usr/lib/raspi-firmware")
			case strings.HasPrefix(p, "/usr/lib/linux-image-"+st.kernel+"/broadcom/bcm2711"):
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
			return nil, fmt.Errorf("board %s: the firmware partition would lack %s (from raspi-firmware and linux-image-%s): the image could not boot", b.board.Name, strings.Join(missing, ", "), st.kernel)
		}
		files = append(files,
			disk.FATFile{Path: "/config.txt", Data: []byte(b.board.Firmware.Config)},
			disk.FATFile{Path: "/cmdline.txt", Data: []byte(cmdline + "\n")},
		)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func (st *state) bootPartition(ctx context.Context) error {
	files, err := st.bootFiles()
	if err != nil {
		return err
	}
	st.bootImg = filepath.Join(st.work, "boot.fat")
	fa := &disk.FAT{Tools: st.tools, Label: st.b.board.BootPartition.Label, VolumeID: volumeID(st.layout), Epoch: st.b.epoch, Log: phase.Output(ctx)}
	if err := fa.Make(ctx, st.bootImg, st.layout.Boot.Size, files); err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	st.detail["boot"] = fmt.Sprintf("%d files, %s of %s", len(files), humanize.Bytes(total), humanize.Bytes(st.layout.Boot.Size))
	return nil
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

func (st *state) rootPartition(ctx context.Context) error {
	b := st.b
	s := &b.opts.Spec.Spec
	minRoot := MinRootSize(st.stats)
	rootSize := minRoot + RootHeadroom
	if s.Disk.Size.IsSet() {
		avail := s.Disk.Size.Value() - st.layout.Boot.Size - 2*disk.Align
		if avail < minRoot {
			need := minRoot + st.layout.Boot.Size + 2*disk.Align
			return fmt.Errorf("spec.disk.size %s is too small for the content: the boot partition (%s) and a root file system holding %s of files need at least %dMi",
				s.Disk.Size, humanize.Bytes(st.layout.Boot.Size), humanize.Bytes(st.stats.Bytes), (need+disk.MiB-1)/disk.MiB)
		}
		rootSize = avail / disk.MiB * disk.MiB
	}
	l, err := disk.NewLayout(b.board.PartitionTable, b.board.Arch, st.layout.Boot.Size, rootSize, st.specSHA+"/"+b.board.Name)
	if err != nil {
		return err
	}
	st.layout = l
	st.rootImg = filepath.Join(st.work, "root.ext4")
	e := &disk.Ext4{Tools: st.tools, UUID: disk.DeriveUUID(st.specSHA+"/"+b.board.Name, "rootfs"), Label: "root", Epoch: b.epoch, Log: phase.Output(ctx)}
	xattrs := make([]disk.Xattr, len(st.stats.Xattrs))
	for i, x := range st.stats.Xattrs {
		xattrs[i] = disk.Xattr{Path: x.Path, Name: x.Name, Value: x.Value}
	}
	if err := e.Make(ctx, st.rootImg, rootSize, st.rootTar, xattrs...); err != nil {
		return err
	}
	os.Remove(st.rootTar)
	alloc, _ := disk.Allocated(st.rootImg)
	st.detail["root"] = fmt.Sprintf("%s, %s used, e2fsck clean", humanize.Bytes(rootSize), humanize.Bytes(alloc))
	return nil
}

func (st *state) diskImage(ctx context.Context) error {
	st.raw = filepath.Join(st.work, "disk.img")
	if err := disk.Assemble(st.raw, st.layout, st.bootImg, st.rootImg); err != nil {
		return err
	}
	os.Remove(st.bootImg)
	os.Remove(st.rootImg)
	sha, err := cache.FileSHA256(st.raw)
	if err != nil {
		return err
	}
	st.rawSHA = sha
	st.res.RawSHA256 = sha
	alloc, _ := disk.Allocated(st.raw)
	st.detail["disk"] = fmt.Sprintf("%s (%s allocated), sha256 %s", humanize.Bytes(st.layout.Size), humanize.Bytes(alloc), sha[:12])
	return nil
}

func (st *state) writeFormat(ctx context.Context, f format.Format) error {
	b := st.b
	s := &b.opts.Spec.Spec
	env := &format.Env{
		Tools: st.tools, Log: phase.Output(ctx), Name: b.name,
		MemoryMiB: s.Node.Memory.Value() >> 20, CPUs: int((s.Node.CPU.MilliValue() + 999) / 1000),
		Arch: b.board.Arch, Seed: st.specSHA + "/" + b.board.Name,
		ZstdLevel: b.opts.ZstdLevel, XzLevel: b.opts.XzLevel,
	}
	dst := filepath.Join(st.stage, b.name+f.Ext)
	extra, err := f.Write(ctx, env, st.raw, dst)
	if err != nil {
		return fmt.Errorf("format %s: %w", f.Name, err)
	}
	var size int64
	for _, p := range append([]string{dst}, extra...) {
		o, err := describe(f.Name, p)
		if err != nil {
			return fmt.Errorf("format %s: %w", f.Name, err)
		}
		if p == dst {
			size = o.Size
		}
		replaced := false
		for i := range st.outputs {
			if st.outputs[i].File == o.File {
				st.outputs[i], replaced = o, true
			}
		}
		if !replaced {
			st.outputs = append(st.outputs, o)
		}
	}
	st.detail["format "+f.Name] = humanize.Bytes(size)
	return nil
}

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
