package image_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/debian"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func TestNewBuilderRefuses(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(d *spec.Document)
		formats []string
		want    string
	}{
		{"unknown board", func(d *spec.Document) { d.Spec.Board = "pi9" }, nil, `spec.board "pi9": unknown board: expected one of arm64-efi, rpi4, x86_64-efi`},
		{"rpi5", func(d *spec.Document) { d.Spec.Board = "rpi5" }, nil, "lacks the Raspberry Pi 5 drivers"},
		{"unknown format", nil, []string{"raw", "iso"}, `format "iso": unknown: expected one of`},
		{"ova on arm64", func(d *spec.Document) { d.Spec.Board = "rpi4" }, []string{"ova"}, "x86_64 boards only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := spec.Default()
			if tt.edit != nil {
				tt.edit(d)
			}
			_, err := image.NewBuilder(image.Options{Spec: d, Formats: tt.formats, OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewBuilder = %v, want %q", err, tt.want)
			}
		})
	}
}

// buildErr runs a build that must fail and checks the output directory
// is left as it was (here: not created).
func buildErr(t *testing.T, o image.Options) error {
	t.Helper()
	o.OutDir = filepath.Join(t.TempDir(), "out")
	o.Cache = imagebuild.Cache(t)
	b, err := image.NewBuilder(o)
	if err != nil {
		return err
	}
	_, err = b.Build(context.Background())
	if err == nil {
		t.Fatal("build succeeded")
	}
	if _, serr := os.Stat(o.OutDir); !os.IsNotExist(serr) {
		entries, _ := os.ReadDir(o.OutDir)
		t.Errorf("output dir left behind after a failed build (%d entries)", len(entries))
	}
	return err
}

func TestBuildFailsCleanly(t *testing.T) {
	testkit.NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	t.Run("mirror unreachable", func(t *testing.T) {
		port, err := testkit.FreePort() // nothing listens there
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		d := testSpec(t, "x86_64-efi")
		d.Spec.OS.Mirror = "http://" + addr + "/debian"
		err = buildErr(t, image.Options{Spec: d, Formats: []string{"raw"}, ToolsMirror: imagebuild.Mirror()})
		if !strings.Contains(err.Error(), "spec.os.mirror http://"+addr+"/debian is unreachable") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("disk too small", func(t *testing.T) {
		d := testSpec(t, "x86_64-efi")
		d.Spec.Disk.Size = spec.MustQuantity("600Mi")
		err := buildErr(t, image.Options{Spec: d, Formats: []string{"raw"}})
		if !strings.Contains(err.Error(), "spec.disk.size 600Mi is too small for the content") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("missing rootfs tarball", func(t *testing.T) {
		d := testSpec(t, "x86_64-efi")
		d.Spec.OS.Rootfs = filepath.Join(t.TempDir(), "nope.tar")
		err := buildErr(t, image.Options{Spec: d, Formats: []string{"raw"}})
		if !strings.Contains(err.Error(), "spec.os.rootfs") {
			t.Errorf("error %v", err)
		}
	})
}

// TestOutputsNotOverwritten: a second build into the same directory is
// refused without Force and leaves the first outputs alone; with Force it
// replaces them. Other files in the directory are never touched.
func TestOutputsNotOverwritten(t *testing.T) {
	d := testSpec(t, "x86_64-efi")
	out := filepath.Join(t.TempDir(), "out")
	must(t, os.MkdirAll(out, 0o755))
	mine := filepath.Join(out, "notes.txt")
	must(t, os.WriteFile(mine, []byte("mine"), 0o644))
	res, _ := build(t, image.Options{Spec: d, Formats: []string{"raw"}, OutDir: out})
	img := filepath.Join(out, "edge-x86_64-efi.img")
	b, err := image.NewBuilder(image.Options{Spec: d, Formats: []string{"raw"}, OutDir: out, Cache: imagebuild.Cache(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(context.Background()); err == nil || !strings.Contains(err.Error(), "already exist (use --force") {
		t.Fatalf("second build without force = %v", err)
	}
	if fileSHA(t, img) != res.RawSHA256 {
		t.Fatal("the existing image was changed")
	}
	build(t, image.Options{Spec: d, Formats: []string{"raw"}, OutDir: out, Force: true})
	if data, err := os.ReadFile(mine); err != nil || string(data) != "mine" {
		t.Errorf("a user file in the output dir was touched: %q %v", data, err)
	}
}

// TestRootfsTarball builds from spec.os.rootfs (a zstd-compressed tar, as
// users with their own distro build bring) instead of mmdebstrap.
func TestRootfsTarball(t *testing.T) {
	d := testSpec(t, "x86_64-efi")
	res, _ := build(t, image.Options{Spec: d, Formats: []string{"raw"}})
	base := debian.TarPath(imagebuild.Cache(t), res.Lock.Base.CacheKey)
	tarball := filepath.Join(t.TempDir(), "my-rootfs.tar.zst")
	if err := imagebuild.Tools(t).Run(context.Background(), nil, nil, "zstd", "-q", "-1", "-T0", "-o", tarball, base); err != nil {
		t.Fatal(err)
	}
	d2 := testSpec(t, "x86_64-efi")
	d2.Spec.OS.Rootfs = tarball
	res2, out := build(t, image.Options{Spec: d2, Formats: []string{"raw"}})
	if !strings.HasPrefix(res2.Lock.Base.Source, "spec.os.rootfs ") || res2.Lock.Base.SHA256 != fileSHA(t, tarball) || len(res2.Lock.Base.Packages) < 100 {
		t.Errorf("lock base: %+v", res2.Lock.Base)
	}
	if _, err := os.Stat(filepath.Join(out, "edge-x86_64-efi.img")); err != nil {
		t.Error(err)
	}
	// Not a tar at all: a clear error naming the field.
	bad := filepath.Join(t.TempDir(), "bad.tar")
	must(t, os.WriteFile(bad, []byte("this is not a tarball, just text that is long enough"), 0o644))
	d3 := testSpec(t, "x86_64-efi")
	d3.Spec.OS.Rootfs = bad
	if err := buildErr(t, image.Options{Spec: d3, Formats: []string{"raw"}}); !strings.Contains(err.Error(), "spec.os.rootfs") {
		t.Errorf("error %v", err)
	}
}

// testSource produces the payload in a phase of its own, as the CLI's
// spec renderer does.
type testSource struct {
	t     *testing.T
	p     *payload.Payload
	ran   bool
	trees testTrees
}

func (s *testSource) Title() string { return "Test payload" }
func (s *testSource) Run(context.Context) error {
	s.p, s.trees = testPayload(s.t, "amd64")
	s.ran = true
	return nil
}
func (s *testSource) Phases() []phase.Phase { return []phase.Phase{s} }
func (s *testSource) Result() (*payload.Payload, []string, []pinned.Image) {
	var imgs []pinned.Image
	for _, im := range s.trees.Images {
		imgs = append(imgs, pinned.Image{Ref: im.Pinned(), Digest: im.Target.Digest.String()})
	}
	return s.p, []string{"k0scontroller.service"}, imgs
}

func TestPayloadSource(t *testing.T) {
	d := testSpec(t, "x86_64-efi")
	src := &testSource{t: t}
	res, _ := build(t, image.Options{Spec: d, Source: src, Formats: []string{"raw"}})
	var titles []string
	for _, r := range res.Phases {
		titles = append(titles, r.Title+"="+string(r.Status))
	}
	got := strings.Join(titles, ",")
	if !strings.HasPrefix(got, "Check inputs=SUCCESS,Test payload=SUCCESS,Payload=SUCCESS,Tools tree=SUCCESS") {
		t.Errorf("phases %s", got)
	}
	if len(res.Lock.Payload.Files) != len(src.p.Files) || len(res.Lock.Images) != len(src.trees.Images) || len(res.Lock.Images) == 0 {
		t.Errorf("lock payload %d files, %d images", len(res.Lock.Payload.Files), len(res.Lock.Images))
	}
}
