package device

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// TestWriteImage writes a device file into a real two-partition image
// (GPT and MBR) and checks it with the host's fsck.fat and mtools.
func TestWriteImage(t *testing.T) {
	fsck := testkit.NeedHostCommand(t, "fsck.fat", "dosfstools")
	testkit.NeedHostCommand(t, "mtype", "mtools")
	for _, table := range []string{disk.GPT, disk.MBR} {
		t.Run(table, func(t *testing.T) {
			dir := t.TempDir()
			img, l := makeImage(t, dir, table)
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

// makeImage assembles a small two-partition image (GPT or MBR) whose
// boot partition holds an old device file.
func makeImage(t *testing.T, dir, table string) (string, *disk.Layout) {
	t.Helper()
	tr := imagebuild.Tools(t)
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
	os.Remove(boot)
	os.Remove(root)
	return img, l
}

// TestWriteImageThroughSymlink: -i LINK changes the image the link
// points to and keeps the link.
func TestWriteImageThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	img, _ := makeImage(t, dir, disk.GPT)
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "current.img")
	if err := os.Symlink(img, link); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Hostname: "edge-09"}
	if err := WriteImage(link, cfg); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	if got, err := ReadImage(img); err != nil || !bytes.Equal(got, cfg.Marshal()) {
		t.Fatalf("the link's target holds %q, %v", got, err)
	}
	for _, d := range []string{dir, linkDir} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temp file left: %s", e.Name())
			}
		}
	}
}

// TestWriteImageRefusesTruncated: an image shorter than its partition
// table says is refused and left as it was, for both tables.
func TestWriteImageRefusesTruncated(t *testing.T) {
	for _, table := range []string{disk.GPT, disk.MBR} {
		t.Run(table, func(t *testing.T) {
			img, l := makeImage(t, t.TempDir(), table)
			// Cut into the root partition, as an interrupted copy does.
			if err := os.Truncate(img, l.Root.Start+l.Root.Size-disk.SectorSize); err != nil {
				t.Fatal(err)
			}
			err := WriteImage(img, &Config{Hostname: "edge-09"})
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("WriteImage on a truncated image = %v, want a truncated error", err)
			}
			if got, err := ReadImage(img); err != nil || string(got) != "hostname: old\n" {
				t.Errorf("the image changed: %q, %v", got, err)
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
