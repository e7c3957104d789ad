package image

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/overlays"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// tree is the composed root file system.
type tree struct {
	// index holds the base files the later steps read (captureBase).
	index *rootfs.Index
	// kernel is the version of the kernel the image boots.
	kernel string
	// tar is the composed root file system; stats describe it.
	tar   string
	stats rootfs.Stats
	// layout is the disk's layout with its identifiers: fstab and the boot
	// entry name the partitions by them. Its root partition is sized by the
	// Root partition step.
	layout *disk.Layout
}

// treeStep is "Root file system": the base with what must not be in an
// image removed, edgeimg's files, overlays and units, and the payload,
// composed into one tar.
type treeStep struct {
	b       *Builder
	checked *checked
	payload *nodePayload
	base    *base
	ws      *workspace
	out     tree
}

func (s *treeStep) Title() string { return "Root file system" }

func (s *treeStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "overlays, first-boot units, payload (%d files, %d trees), units enabled: %s", s.payload.files(), s.payload.dirs(), strings.Join(s.payload.unitsToEnable(s.b.opts.Spec.Spec.SSH.Enabled), " "))
}

func (s *treeStep) Detail() string {
	if s.out.tar == "" {
		return ""
	}
	return fmt.Sprintf("%d entries, %s, kernel %s", s.out.stats.Entries, humanize.Bytes(s.out.stats.Bytes), s.out.kernel)
}

func (s *treeStep) Run(ctx context.Context) error {
	b := s.b
	sp := &b.opts.Spec.Spec
	ix, err := rootfs.ReadIndex(s.base.tar, b.captureBase)
	if err != nil {
		return err
	}
	kernel, err := b.pickKernel(ix)
	if err != nil {
		return err
	}
	// Disk layout first: fstab and the boot entry name the partitions.
	l, err := b.newLayout(s.checked.seed)
	if err != nil {
		return err
	}

	t := rootfs.NewTree()
	mount := b.board.BootPartition.MountPoint
	scrub(t, mount)
	addIdentity(t, sp.OS.Hostname)
	addFstab(t, l, mount)
	if err := addOverlays(t, mount, sp.SSH.Enabled); err != nil {
		return err
	}
	addImageEnv(t, b, s.checked.specSHA)
	addDeviceDefaults(t, sp)
	addSSHKeys(t, &sp.SSH)
	if err := checkLinks(ix, s.payload.p, sp.OS.Rootfs != ""); err != nil {
		return err
	}
	if err := addPayload(t, s.payload.p); err != nil {
		return err
	}
	if err := enableUnits(t, ix, s.payload.unitsToEnable(sp.SSH.Enabled)); err != nil {
		return err
	}

	tarPath := filepath.Join(s.ws.work, "rootfs.tar")
	out, err := os.Create(tarPath)
	if err != nil {
		return err
	}
	stats, err := rootfs.Compose(out, s.base.tar, t, time.Unix(b.epoch, 0))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	s.out = tree{index: ix, kernel: kernel, tar: tarPath, stats: stats, layout: l}
	return nil
}

// captureBase selects the base files the build reads: boot files, unit
// files, the package database.
func (b *Builder) captureBase(p string) bool {
	bd := b.board
	switch {
	case strings.HasPrefix(p, "/boot/vmlinuz-"), strings.HasPrefix(p, "/boot/initrd.img-"):
		return true
	case p == bd.EFIBinary, p == "/var/lib/dpkg/status":
		return true
	case strings.HasPrefix(p, "/usr/lib/raspi-firmware/"):
		return bd.Bootloader == BootRPiFirmware
	case strings.HasPrefix(p, "/usr/lib/linux-image-") && strings.Contains(p, "/broadcom/"):
		return bd.Bootloader == BootRPiFirmware
	}
	for _, d := range unitDirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// pickKernel returns the version of the base's newest kernel, which must
// have an initrd.
func (b *Builder) pickKernel(ix *rootfs.Index) (string, error) {
	kernels := ix.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		return "", fmt.Errorf("the base has no kernel (/boot/vmlinuz-*): board %s needs %s", b.board.Name, strings.Join(b.board.Packages, ", "))
	}
	sort.Slice(kernels, func(i, j int) bool { return versionLess(kernels[i], kernels[j]) })
	kernel := strings.TrimPrefix(kernels[len(kernels)-1], "/boot/vmlinuz-")
	if _, ok := ix.Files["/boot/initrd.img-"+kernel]; !ok {
		return "", fmt.Errorf("the base has no initrd for kernel %s (/boot/initrd.img-%s)", kernel, kernel)
	}
	return kernel, nil
}

// scrubbed are base files that must not be in an image: nothing host- or
// build-specific, and nothing that must be unique per node.
var scrubbed = []string{
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
}

// scrub removes the scrubbed files and whatever the base has under the
// boot partition's mount point, which stays an empty directory.
func scrub(t *rootfs.Tree, mount string) {
	for _, pat := range scrubbed {
		t.Remove(pat)
	}
	t.Remove(mount + "/**")
	t.AddDir(mount, 0o700)
}

// addIdentity writes an empty machine-id (set on first boot), the
// hostname and hosts.
func addIdentity(t *rootfs.Tree, hostname string) {
	t.AddFile("/etc/machine-id", 0o444, nil)
	t.AddFile("/etc/hostname", 0o644, []byte(hostname+"\n"))
	t.AddFile("/etc/hosts", 0o644, []byte(fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n", hostname)))
}

// addFstab mounts the root and the boot partition by PARTUUID.
func addFstab(t *rootfs.Tree, l *disk.Layout, mount string) {
	t.AddFile("/etc/fstab", 0o644, []byte(fmt.Sprintf("# Written by edgeimg: partitions by PARTUUID.\nPARTUUID=%s\t/\text4\tdefaults,noatime,commit=60\t0 1\nPARTUUID=%s\t%s\tvfat\tumask=0077,noatime,nofail,x-systemd.device-timeout=90s\t0 2\n",
		l.PARTUUID(&l.Root), l.PARTUUID(&l.Boot), mount)))
}

// addOverlays adds overlays/base and, with SSH, overlays/ssh.
func addOverlays(t *rootfs.Tree, mount string, ssh bool) error {
	mountUnit := strings.ReplaceAll(strings.Trim(mount, "/"), "/", "-") + ".mount"
	layers := []string{"base"}
	if ssh {
		layers = append(layers, "ssh")
	}
	for _, layer := range layers {
		if err := addOverlay(t, layer, map[string]string{"@BOOT_MOUNT_UNIT@": mountUnit}); err != nil {
			return err
		}
	}
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

// addImageEnv writes /etc/edgeimg/image.env: which image and board this is.
func addImageEnv(t *rootfs.Tree, b *Builder, specSHA string) {
	t.AddFile("/etc/edgeimg/image.env", 0o644, []byte(fmt.Sprintf("# Written by edgeimg build.\nEDGEIMG_IMAGE=%q\nEDGEIMG_BOARD=%q\nEDGEIMG_BOOT_MOUNT=%q\nEDGEIMG_SPEC_SHA256=%q\n",
		b.opts.Spec.Metadata.Name, b.board.Name, b.board.BootPartition.MountPoint, specSHA)))
}

// addDeviceDefaults writes the device file's defaults (the environment
// until a device file changes it) and its rules.
func addDeviceDefaults(t *rootfs.Tree, sp *spec.Spec) {
	defaults := device.DefaultsEnv(sp.OS.Hostname, sp.MetalLB.Addresses)
	t.AddFile(device.DefaultsEnvFile, 0o644, defaults)
	t.AddFile(device.EnvFile, 0o644, defaults)
	t.AddFile(device.RulesFile, 0o644, device.RenderRules())
}

// addSSHKeys writes the authorized keys: always edgeimg's copy, root's
// when SSH is enabled.
func addSSHKeys(t *rootfs.Tree, ssh *spec.SSH) {
	keys := strings.Join(ssh.AuthorizedKeys, "\n")
	if keys != "" {
		keys += "\n"
	}
	t.AddFile("/etc/edgeimg/authorized_keys", 0o644, []byte(keys))
	if ssh.Enabled {
		t.AddDir("/root/.ssh", 0o700)
		t.AddFile("/root/.ssh/authorized_keys", 0o600, []byte(keys))
	}
}

// addPayload adds the payload's files and, in path order, its trees.
func addPayload(t *rootfs.Tree, p *payload.Payload) error {
	if p == nil {
		return nil
	}
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
	for _, l := range p.Links {
		if err := t.AddSymlink(l.Path, l.Target); err != nil {
			return fmt.Errorf("payload link %s: %w", l.Path, err)
		}
	}
	return nil
}

// checkLinks checks that every payload link points at a file the base
// has: its package (payload.Packages) installed, or, for a root file
// system of the user's (spec.os.rootfs), put there.
func checkLinks(ix *rootfs.Index, p *payload.Payload, rootfsGiven bool) error {
	if p == nil {
		return nil
	}
	for _, l := range p.Links {
		if _, ok := ix.Resolve(l.Target); ok {
			continue
		}
		if rootfsGiven {
			return fmt.Errorf("spec.os.rootfs has no %s (the target of %s), which the node needs from Debian's %s: install it into that root file system",
				l.Target, l.Path, strings.Join(p.Packages, ", "))
		}
		return fmt.Errorf("the Debian base has no %s (the target of %s) although it installed %s", l.Target, l.Path, strings.Join(p.Packages, ", "))
	}
	return nil
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
