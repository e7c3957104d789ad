package image_test

import (
	"archive/tar"
	"context"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/format"
)

// TestFormats builds every format once (fast compression levels: the
// writers are the same at any level) and converts each back, requiring the
// same disk content as the raw image.
func TestFormats(t *testing.T) {
	_, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "x86_64-efi", key)
	res, out := build(t, image.Options{Spec: d, Formats: format.Names(), ZstdLevel: 3, XzLevel: 1})
	tr := imagebuild.Tools(t)
	ctx := context.Background()
	raw := filepath.Join(out, "edge-x86_64-efi.img")
	dir := t.TempDir()

	want := map[string]bool{}
	for _, o := range res.Outputs {
		want[o.File] = true
		if got := fileSHA(t, filepath.Join(out, o.File)); got != o.SHA256 {
			t.Errorf("%s: sha256 %s, result says %s", o.File, got, o.SHA256)
		}
	}
	for _, n := range []string{"edge-x86_64-efi.img", "edge-x86_64-efi.img.bmap", "edge-x86_64-efi.img.zst", "edge-x86_64-efi.img.xz", "edge-x86_64-efi.qcow2", "edge-x86_64-efi.vmdk", "edge-x86_64-efi.vdi", "edge-x86_64-efi.ova"} {
		if !want[n] {
			t.Errorf("no output %s", n)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in the output dir: %s", e.Name())
		}
	}

	compare := func(name, f, fmtName string) {
		t.Helper()
		if err := tr.Run(ctx, nil, nil, "qemu-img", "compare", "-q", "-f", "raw", "-F", fmtName, raw, f); err != nil {
			t.Errorf("%s differs from the raw image: %v", name, err)
		}
	}
	for _, f := range []string{"qcow2", "vmdk", "vdi"} {
		compare(f, filepath.Join(out, "edge-x86_64-efi."+f), f)
	}

	zstOut := filepath.Join(dir, "from-zst.img")
	if err := tr.Run(ctx, nil, nil, "zstd", "-q", "-d", "-o", zstOut, filepath.Join(out, "edge-x86_64-efi.img.zst")); err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, zstOut) != res.RawSHA256 {
		t.Error("img.zst does not decompress to the raw image")
	}
	cmd, _ := tr.Command(ctx, nil, "xz", "-d", "-c", filepath.Join(out, "edge-x86_64-efi.img.xz"))
	xzOut := filepath.Join(dir, "from-xz.img")
	f, _ := os.Create(xzOut)
	cmd.Stdout = f
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fileSHA(t, xzOut) != res.RawSHA256 {
		t.Error("img.xz does not decompress to the raw image")
	}

	// bmaptool (the host's) writes the compressed image through our map.
	if bmaptool, err := exec.LookPath("bmaptool"); err == nil {
		dst := filepath.Join(dir, "flashed.img")
		if out, err := exec.Command(bmaptool, "copy", "--bmap", filepath.Join(out, "edge-x86_64-efi.img.bmap"), filepath.Join(out, "edge-x86_64-efi.img.zst"), dst).CombinedOutput(); err != nil {
			t.Errorf("bmaptool copy img.zst: %v\n%s", err, out)
		} else if fileSHA(t, dst) != res.RawSHA256 {
			t.Error("bmaptool copy of img.zst differs from the raw image")
		}
	} else {
		testkit.Require(t, false, "bmaptool not found (apt-get install bmap-tools)")
	}

	// The OVA: descriptor first, VM with EFI, 1 CPU, the spec's memory,
	// a streamOptimized disk with the raw image's content, digests.
	ova, err := os.Open(filepath.Join(out, "edge-x86_64-efi.ova"))
	if err != nil {
		t.Fatal(err)
	}
	defer ova.Close()
	trd := tar.NewReader(ova)
	var names []string
	files := map[string][]byte{}
	for {
		h, err := trd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		data, _ := io.ReadAll(trd)
		files[h.Name] = data
	}
	if strings.Join(names, ",") != "edge-x86_64-efi.ovf,edge-x86_64-efi-disk1.vmdk,edge-x86_64-efi.mf" {
		t.Fatalf("ova members %v", names)
	}
	var env struct {
		Disk struct {
			Capacity string `xml:"capacity,attr"`
			Format   string `xml:"format,attr"`
		} `xml:"DiskSection>Disk"`
		Items []struct {
			Type     int    `xml:"ResourceType"`
			Quantity string `xml:"VirtualQuantity"`
		} `xml:"VirtualSystem>VirtualHardwareSection>Item"`
		Firmware struct {
			Type string `xml:"type,attr"`
		} `xml:"VirtualSystem>Machine>Hardware>Firmware"`
	}
	if err := xml.Unmarshal(files["edge-x86_64-efi.ovf"], &env); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(raw)
	if env.Disk.Capacity != itoa(fi.Size()) || !strings.HasSuffix(env.Disk.Format, "#streamOptimized") {
		t.Errorf("OVF disk %+v", env.Disk)
	}
	if env.Firmware.Type != "EFI" {
		t.Errorf("OVF firmware %q, want EFI", env.Firmware.Type)
	}
	quant := map[int]string{}
	for _, it := range env.Items {
		quant[it.Type] = it.Quantity
	}
	if quant[3] != "1" || quant[4] != itoa(d.Spec.Node.Memory.Value()>>20) {
		t.Errorf("OVF CPUs %q memory %q MB", quant[3], quant[4])
	}
	vmdk := filepath.Join(dir, "disk1.vmdk")
	if err := os.WriteFile(vmdk, files["edge-x86_64-efi-disk1.vmdk"], 0o644); err != nil {
		t.Fatal(err)
	}
	compare("ova disk", vmdk, "vmdk")
	mf := string(files["edge-x86_64-efi.mf"])
	if !strings.Contains(mf, "SHA256(edge-x86_64-efi-disk1.vmdk)= "+fileSHA(t, vmdk)) || !strings.Contains(mf, "SHA256(edge-x86_64-efi.ovf)= "+fileSHAString(string(files["edge-x86_64-efi.ovf"]))) {
		t.Errorf("ova manifest does not match its members:\n%s", mf)
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
