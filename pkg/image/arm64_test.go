package image_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// needArm64 skips (or fails under EDGEIMG_CI) when the arm64 base is not
// cached and cannot be built here because qemu-user binfmt is missing;
// the message says what to install and register.
//
// EDGEIMG_IMAGE_ARM64=0 skips these tests on purpose (the arm64 base is a
// ~12-20 min emulated mmdebstrap on a cold 2-core machine), with a message.
func needArm64(t *testing.T, o image.Options) {
	t.Helper()
	if os.Getenv("EDGEIMG_IMAGE_ARM64") == "0" {
		t.Skip("arm64 image tests turned off with EDGEIMG_IMAGE_ARM64=0")
	}
	testkit.NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	o.OutDir = t.TempDir()
	o.Cache = imagebuild.Cache(t)
	b, err := image.NewBuilder(o)
	if err != nil {
		t.Fatal(err)
	}
	err = b.CheckEmulation()
	testkit.Require(t, err == nil, "arm64 Debian base: "+errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestRPi4Structure checks the Raspberry Pi 4 image without booting it
// (QEMU cannot run the Pi firmware): MBR layout, firmware partition
// contents, config.txt, cmdline.txt with root=PARTUUID and the serial
// console, the root file system.
func TestRPi4Structure(t *testing.T) {
	_, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "rpi4", key)
	o := image.Options{Spec: d, Formats: []string{"raw"}}
	needArm64(t, o)
	res, out := build(t, o)
	img := filepath.Join(out, "edge-rpi4.img")

	label, parts := partitions(t, img)
	if label != "dos" || len(parts) != 2 {
		t.Fatalf("partition table %s with %d partitions, want an MBR (dos) with 2", label, len(parts))
	}
	if parts[0]["type"] != "c" || parts[1]["type"] != "83" || parts[0]["bootable"] != true {
		t.Errorf("partitions %v: want a bootable FAT32-LBA (c) then Linux (83)", parts)
	}
	start := func(i int) int64 { return int64(parts[i]["start"].(float64)) * 512 }
	size := func(i int) int64 { return int64(parts[i]["size"].(float64)) * 512 }
	if start(0) != 1<<20 {
		t.Errorf("firmware partition starts at %d, want 1 MiB", start(0))
	}
	sig := make([]byte, 4)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	f.ReadAt(sig, 440)
	f.Close()
	partuuid := strings.ToLower(strings.TrimPrefix(res.Lock.Image.RootUUID, ""))
	if want := hex8(binary.LittleEndian.Uint32(sig)) + "-02"; partuuid != want {
		t.Errorf("lock root PARTUUID %s, disk signature gives %s", partuuid, want)
	}

	dir := t.TempDir()
	fw := filepath.Join(dir, "fw.fat")
	extractPart(t, img, start(0), size(0), fw)
	fsck := testkit.NeedHostCommand(t, "fsck.fat", "dosfstools")
	if out, err := exec.Command(fsck, "-n", fw).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n firmware partition: %v\n%s", err, out)
	}
	testkit.NeedHostCommand(t, "mtype", "mtools")
	mtype := func(p string) []byte {
		t.Helper()
		out, err := exec.Command("mtype", "-i", fw, "::"+p).Output()
		if err != nil {
			t.Errorf("firmware partition lacks %s", p)
		}
		return out
	}
	for _, p := range []string{"/start4.elf", "/fixup4.dat", "/bcm2711-rpi-4-b.dtb", "/bcm2711-rpi-400.dtb", "/bcm2711-rpi-cm4-io.dtb", "/initrd.img", "/edgeimg-device.yaml.example"} {
		if data := mtype(p); len(data) < 4 {
			t.Errorf("%s is empty", p)
		}
	}
	if dtb := mtype("/bcm2711-rpi-4-b.dtb"); !bytes.HasPrefix(dtb, []byte{0xd0, 0x0d, 0xfe, 0xed}) {
		t.Error("bcm2711-rpi-4-b.dtb is not a device tree blob")
	}
	if k := arm64Kernel(mtype("/vmlinuz")); !k {
		t.Error("vmlinuz is not an arm64 kernel Image")
	}
	config := string(mtype("/config.txt"))
	for _, want := range []string{"arm_64bit=1", "enable_uart=1", "upstream_kernel=1", "kernel=vmlinuz", "initramfs initrd.img followkernel"} {
		if !strings.Contains(config, want+"\n") {
			t.Errorf("config.txt lacks %q:\n%s", want, config)
		}
	}
	cmdline := string(mtype("/cmdline.txt"))
	if strings.Count(cmdline, "\n") != 1 || !strings.Contains(cmdline, "root=PARTUUID="+partuuid+" ") || !strings.Contains(cmdline, "console=ttyS1,115200") || !strings.Contains(cmdline, "rootwait") {
		t.Errorf("cmdline.txt: %q", cmdline)
	}

	root := filepath.Join(dir, "root.ext4")
	extractPart(t, img, start(1), size(1), root)
	tr := imagebuild.Tools(t)
	if err := (&disk.Ext4{Tools: tr}).Check(context.Background(), root); err != nil {
		t.Error(err)
	}
	fstab, err := tr.Output(context.Background(), nil, "debugfs", "-R", "cat /etc/fstab", root)
	if err != nil || !strings.Contains(string(fstab), "/boot/firmware\tvfat") || !strings.Contains(string(fstab), "PARTUUID="+partuuid+"\t/\t") {
		t.Errorf("fstab: %s %v", fstab, err)
	}
	ls, _ := tr.Output(context.Background(), nil, "debugfs", "-R", "ls /boot/firmware", root)
	if strings.Contains(string(ls), "start4.elf") {
		t.Error("the root file system keeps a copy of the firmware under the /boot/firmware mount point")
	}
}

func hex8(v uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

// arm64Kernel reports whether data (optionally gzip-compressed) is an
// arm64 Linux Image: magic "ARM\x64" at offset 56.
func arm64Kernel(data []byte) bool {
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return false
		}
		data, _ = io.ReadAll(io.LimitReader(zr, 4096))
	}
	return len(data) > 60 && string(data[56:60]) == "ARM\x64"
}

// TestBootArm64 boots the arm64-efi image under qemu-system-aarch64 (TCG,
// virt, cortex-a72, AAVMF) and checks the system over SSH.
func TestBootArm64(t *testing.T) {
	signer, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "arm64-efi", key)
	p, _ := testPayload(t, "arm64")
	o := image.Options{Spec: d, Payload: p, EnableUnits: []string{"k0scontroller.service"}, Formats: []string{"raw"}}
	needArm64(t, o)
	qemu.System(t, "arm64")
	_, out := build(t, o)
	img := filepath.Join(t.TempDir(), "disk.img")
	copySparse(t, filepath.Join(out, "edge-arm64-efi.img"), img)
	fi, _ := os.Stat(img)
	imagebuild.ResizeRaw(t, img, fi.Size()+1<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	vm := boot(ctx, t, d, "arm64", img, signer)
	t.Logf("arm64 boot under TCG: multi-user.target after %.1fs, k0scontroller.service started after %.1fs", vm.Milestones["multi-user"].Seconds(), vm.Milestones["k0s"].Seconds())
	out2, err := qemu.SSHRun(vm.Client, "uname -m; hostname; systemctl is-active edgeimg-growroot.service k0scontroller.service; sha256sum /usr/local/bin/k0s | cut -c1-64")
	if err != nil {
		t.Fatal(err)
	}
	want := "aarch64\nedge\nactive\nactive\n" + p.Files[indexOf(p.Files, "/usr/local/bin/k0s")].SHA256 + "\n"
	if out2 != want {
		t.Errorf("on the node:\n%s\nwant:\n%s", out2, want)
	}
}
