package device

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testenv"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// TestWriteImage writes a device file into a real two-partition image
// (GPT and MBR) and checks it with the host's fsck.fat and mtools.
func TestWriteImage(t *testing.T) {
	fsck := testenv.NeedHostCommand(t, "fsck.fat", "dosfstools")
	testenv.NeedHostCommand(t, "mtype", "mtools")
	tr := testenv.ImageTools(t)
	for _, table := range []string{disk.GPT, disk.MBR} {
		t.Run(table, func(t *testing.T) {
			dir := t.TempDir()
			l, err := disk.NewLayout(table, "arm64", 64<<20, 40<<20, "dev-test")
			if err != nil {
				t.Fatal(err)
			}
			boot, root := filepath.Join(dir, "boot.fat"), filepath.Join(dir, "root.ext4")
			fa := &disk.FAT{Tools: tr, Label: "ESP", Epoch: 1735689600}
			if err := fa.Make(context.Background(), boot, l.Boot.Size, []disk.FATFile{{Path: "/EFI/BOOT/BOOTAA64.EFI", Data: []byte("efi")}, {Path: "/" + FileName, Data: []byte("hostname: old\n")}}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(root, []byte("root"), 0o644); err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(dir, "edge.img")
			if err := disk.Assemble(img, l, boot, root); err != nil {
				t.Fatal(err)
			}
			before, err := ReadImage(img)
			if err != nil || string(before) != "hostname: old\n" {
				t.Fatalf("ReadImage before = %q, %v", before, err)
			}
			cfg := &Config{Hostname: "edge-07", Labels: map[string]string{"site": "x"}}
			if err := WriteImage(img, cfg); err != nil {
				t.Fatal(err)
			}
			if err := WriteImage(img, &Config{Hostname: "BAD NAME"}); err == nil {
				t.Fatal("invalid config written")
			}
			after, err := ReadImage(img)
			if err != nil || !bytes.Equal(after, cfg.Marshal()) {
				t.Fatalf("ReadImage after = %q, %v", after, err)
			}
			part := filepath.Join(dir, "part.fat")
			extract(t, img, l.Boot.Start, l.Boot.Size, part)
			if out, err := exec.Command(fsck, "-n", part).CombinedOutput(); err != nil {
				t.Fatalf("fsck.fat -n after WriteImage: %v\n%s", err, out)
			}
			out, err := exec.Command("mtype", "-i", part, "::/"+FileName).Output()
			if err != nil || !bytes.Equal(out, cfg.Marshal()) {
				t.Fatalf("mtype = %q, %v", out, err)
			}
			out, err = exec.Command("mtype", "-i", part, "::/EFI/BOOT/BOOTAA64.EFI").Output()
			if err != nil || string(out) != "efi" {
				t.Fatalf("other files damaged: %q, %v", out, err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
		})
	}
}

func extract(t *testing.T, img string, off, size int64, dst string) {
	t.Helper()
	data := make([]byte, size)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
