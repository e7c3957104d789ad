package disk

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
)

var epoch = time.Unix(1735689600, 0)

func TestDeriveUUID(t *testing.T) {
	a, b := DeriveUUID("seed", "root"), DeriveUUID("seed", "boot")
	if a == b || a != DeriveUUID("seed", "root") {
		t.Fatalf("DeriveUUID not stable/distinct: %s %s", a, b)
	}
	if len(a) != 36 || a[14] != '4' {
		t.Errorf("DeriveUUID = %s, want a version-4 layout UUID", a)
	}
}

// sfdiskJSON reads a partition table with the host's sfdisk.
func sfdiskJSON(t *testing.T, img string) map[string]any {
	t.Helper()
	testkit.NeedHostCommand(t, "sfdisk", "fdisk")
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var v struct {
		PT map[string]any `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v.PT
}

func TestLayoutTables(t *testing.T) {
	tests := []struct {
		table, arch string
		wantLabel   string
		wantTypes   []string
	}{
		{GPT, "amd64", "gpt", []string{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"}},
		{GPT, "arm64", "gpt", []string{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"}},
		{MBR, "arm64", "dos", []string{"c", "83"}},
	}
	for _, tt := range tests {
		t.Run(tt.table+"-"+tt.arch, func(t *testing.T) {
			l, err := NewLayout(tt.table, tt.arch, 64<<20, 100<<20+5, "spec-seed")
			if err != nil {
				t.Fatal(err)
			}
			if l.Root.Size != 101<<20 {
				t.Errorf("root size %d not rounded up to 101 MiB", l.Root.Size)
			}
			img := filepath.Join(t.TempDir(), "disk.img")
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(l.Size); err != nil {
				t.Fatal(err)
			}
			if err := l.WriteTable(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			pt := sfdiskJSON(t, img)
			if pt["label"] != tt.wantLabel {
				t.Fatalf("label = %v, want %s", pt["label"], tt.wantLabel)
			}
			parts := pt["partitions"].([]any)
			if len(parts) != 2 {
				t.Fatalf("%d partitions, want 2", len(parts))
			}
			for i, want := range []*Partition{&l.Boot, &l.Root} {
				p := parts[i].(map[string]any)
				if int64(p["start"].(float64))*SectorSize != want.Start || int64(p["size"].(float64))*SectorSize != want.Size {
					t.Errorf("partition %d at %v+%v sectors, want %d+%d bytes", i+1, p["start"], p["size"], want.Start, want.Size)
				}
				if !strings.EqualFold(p["type"].(string), tt.wantTypes[i]) {
					t.Errorf("partition %d type %v, want %s", i+1, p["type"], tt.wantTypes[i])
				}
				if tt.table == GPT && !strings.EqualFold(p["uuid"].(string), want.UUID) {
					t.Errorf("partition %d uuid %v, want %s", i+1, p["uuid"], want.UUID)
				}
			}
			if tt.table == MBR {
				id := strings.TrimPrefix(pt["id"].(string), "0x")
				if want := strings.SplitN(l.PARTUUID(&l.Root), "-", 2)[0]; id != want {
					t.Errorf("disk id %s, want %s", id, want)
				}
			} else if !strings.EqualFold(pt["id"].(string), l.DiskGUID) {
				t.Errorf("disk GUID %v, want %s", pt["id"], l.DiskGUID)
			}
		})
	}
}

func TestMakeFATReproducibleAndValid(t *testing.T) {
	fsck := testkit.NeedHostCommand(t, "fsck.fat", "dosfstools")
	testkit.NeedHostCommand(t, "mtype", "mtools")
	big := bytes.Repeat([]byte("kernel-bytes-"), 3<<20) // ~39 MB, like a kernel + initrd
	files := []FATFile{
		{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("efi")},
		{Path: "/loader/loader.conf", Data: []byte("timeout 0\n")},
		{Path: "/vmlinuz", Data: big},
		{Path: "/edgeimg-device.yaml", Data: []byte("hostname: a\n")},
	}
	dir := t.TempDir()
	fa := &FAT{Tools: imagebuild.Tools(t), Label: "ESP", VolumeID: 0x1234abcd, Epoch: epoch.Unix(), Log: testWriter{t}}
	ctx := context.Background()
	var sums []string
	for _, name := range []string{"a.fat", "b.fat"} {
		p := filepath.Join(dir, name)
		if err := fa.Make(ctx, p, 128<<20, files); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, fileSHA(t, p))
	}
	if sums[0] != sums[1] {
		t.Errorf("two FAT builds differ: %s %s", sums[0], sums[1])
	}
	p := filepath.Join(dir, "a.fat")
	if out, err := exec.Command(fsck, "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("fsck.fat -n: %v\n%s", err, out)
	}
	out, err := exec.Command("mtype", "-i", p, "::/loader/loader.conf").Output()
	if err != nil || string(out) != "timeout 0\n" {
		t.Fatalf("mtype loader.conf = %q, %v", out, err)
	}
	out, err = exec.Command("mtype", "-i", p, "::/vmlinuz").Output()
	if err != nil || !bytes.Equal(out, big) {
		t.Fatalf("mtype vmlinuz: %d bytes, %v", len(out), err)
	}
	if err := fa.Make(ctx, filepath.Join(dir, "small.fat"), 64<<20, files[2:3]); err != nil {
		t.Fatalf("39 MB into 64 MiB: %v", err)
	}
	if err := fa.Make(ctx, filepath.Join(dir, "tiny.fat"), 40<<20, files[2:3]); err == nil {
		t.Fatal("39 MB into 40 MiB: want an error")
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestAssembleExt4Bmap builds a real disk from a tar with the tools tree's
// mke2fs, checks both file systems, the sparseness of the result, and that
// the host's bmaptool copies it through our block map byte for byte.
func TestAssembleExt4Bmap(t *testing.T) {
	tr := imagebuild.Tools(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "root.tar")
	writeTar(t, tarPath, map[string]string{"etc/hostname": "edge\n", "usr/bin/hello": strings.Repeat("x", 1<<20)})
	e := &Ext4{Tools: tr, UUID: DeriveUUID("s", "fs"), Label: "root", Epoch: epoch.Unix(), Log: testWriter{t}}
	l, err := NewLayout(GPT, "amd64", 64<<20, 64<<20, "s")
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, n := range []string{"a", "b"} {
		rootImg := filepath.Join(dir, n+".ext4")
		if err := e.Make(context.Background(), rootImg, l.Root.Size, tarPath); err != nil {
			t.Fatal(err)
		}
		bootImg := filepath.Join(dir, n+".fat")
		fa := &FAT{Tools: tr, Label: "ESP", Epoch: epoch.Unix()}
		if err := fa.Make(context.Background(), bootImg, l.Boot.Size, []FATFile{{Path: "/x", Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(dir, n+".img")
		if err := Assemble(img, l, bootImg, rootImg); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, fileSHA(t, img))
		t.Logf("%s: ext4 %s fat %s", n, fileSHA(t, rootImg), fileSHA(t, bootImg))
	}
	if sums[0] != sums[1] {
		t.Errorf("two assemblies differ: %s %s", sums[0], sums[1])
	}
	img := filepath.Join(dir, "a.img")
	alloc, err := Allocated(img)
	if err != nil {
		t.Fatal(err)
	}
	if alloc >= l.Size/2 {
		t.Errorf("image allocates %d of %d bytes: holes were not kept", alloc, l.Size)
	}
	// The tiny tar does not fit 2 MiB.
	if err := e.Make(context.Background(), filepath.Join(dir, "tiny.ext4"), 2<<20, tarPath); err == nil {
		t.Error("2 MiB ext4 for 1 MiB of files plus journal: want an error")
	}

	bmaptool, err := exec.LookPath("bmaptool")
	testkit.Require(t, err == nil, "bmaptool not found (apt-get install bmap-tools)")
	bmap := filepath.Join(dir, "a.bmap")
	var buf bytes.Buffer
	if err := WriteBmap(img, &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bmap, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "copy.img")
	if out, err := exec.Command(bmaptool, "copy", "--bmap", bmap, img, dst).CombinedOutput(); err != nil {
		t.Fatalf("bmaptool copy: %v\n%s", err, out)
	}
	if got := fileSHA(t, dst); got != sums[0] {
		t.Errorf("bmaptool copy gives sha256 %s, want %s", got, sums[0])
	}
}

func writeTar(t *testing.T, p string, files map[string]string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"etc/", "usr/", "usr/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Name: "./" + d, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "./" + name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestWithRootSize: sizing the root of a layout made before the size was
// known gives the layout NewLayout makes with that size, and leaves the
// original as it was.
func TestWithRootSize(t *testing.T) {
	for _, table := range []string{GPT, MBR} {
		t.Run(table, func(t *testing.T) {
			early, err := NewLayout(table, "arm64", 64<<20, 0, "spec-seed")
			if err != nil {
				t.Fatal(err)
			}
			before := *early
			want, err := NewLayout(table, "arm64", 64<<20, 100<<20+5, "spec-seed")
			if err != nil {
				t.Fatal(err)
			}
			if got := early.WithRootSize(100<<20 + 5); !reflect.DeepEqual(got, want) {
				t.Errorf("WithRootSize = %+v, want %+v", got, want)
			}
			if !reflect.DeepEqual(*early, before) {
				t.Errorf("WithRootSize changed its receiver: %+v, was %+v", *early, before)
			}
		})
	}
}
