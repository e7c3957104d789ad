//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/edgestack"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// board is the image's board; the VM is x86_64 (arm64 is still to come).
const board = "x86_64-efi"

// built is the image built for the device test.
type built struct {
	// raw is the raw image the VM boots (device file written), qcow2 the
	// converted one.
	raw, qcow2 string
	doc        *spec.Document
	// first is the spec rendered before the build: the stacks' objects.
	first *render.Result
	p     *payload.Payload
	// blobs are the preloaded content store's blobs.
	blobs  []string
	images []pinned.Image
	signer ssh.Signer
	took   time.Duration
}

// buildImage builds the end-to-end spec's image as `edgeimg build` does
// (prepare.NewImageSource, image.NewBuilder, Build), raw and qcow2, its
// images preloaded into containerd's store or, with bundle, as k0s's
// import bundle (prepare.Options.BundleImages), with
// the images built here mapped onto their upstream references, k0s from
// hack/build-bins.sh as spec.k0s.binary, SSH on with a key of the test.
func buildImage(ctx context.Context, t testing.TB, bundle bool) *built {
	t.Helper()
	testkit.Require(t, runtime.GOARCH == "amd64", "the device test builds x86_64 images on amd64")
	fixtures := testkit.FixturesDir(t)
	bins := k0s.Binaries(t)
	reg := regtest.Start(t)
	local := edgestack.Push(t, reg, edgestack.Images(t))
	signer, pub := qemu.LoginKey(t, "edgeimg-e2evm")

	doc, err := spec.Parse("e2evm spec", []byte(edgestack.SpecYAML))
	if err != nil {
		t.Fatal(err)
	}
	doc.Metadata.Name = "e2evm"
	// The k0s line make e2ebins built (K0S_LINE): its release is the
	// spec's. The VM is cgroup v2 (trixie's systemd): no cgroup v1 opt-out.
	line, err := k0s.CurrentLine()
	if err != nil {
		t.Fatal(err)
	}
	doc.Spec.K0s.Version = line.K0sVersion
	doc.Spec.Knative.KubernetesMinVersion = line.KnativeMin()
	t.Logf("k0s line %s: spec.k0s.version %s, Kubernetes %s, containerd %s", line.Name, line.K0sVersion, line.Kubernetes, line.Containerd)
	doc.Spec.Board = board
	doc.Spec.Upstream = fixtures
	doc.Spec.K0s.Binary = bins["k0s"]
	doc.Spec.SSH.Enabled = true
	doc.Spec.SSH.AuthorizedKeys = []string{pub}
	doc.Spec.Output.Formats = []string{"raw", "qcow2"}
	if doc.Spec.OS.Mirror == "" || os.Getenv("EDGEIMG_TEST_MIRROR") != "" {
		doc.Spec.OS.Mirror = imagebuild.Mirror()
	}
	if v := os.Getenv(envKubeletTimeout); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			t.Fatalf("%s=%q: %v", envKubeletTimeout, v, err)
		}
		cfg := doc.Spec.K0s.Config
		sp, _ := cfg["spec"].(map[string]any)
		sp["workerProfiles"] = []any{map[string]any{"name": "default", "values": map[string]any{"runtimeRequestTimeout": v}}}
		t.Logf("kubelet runtimeRequestTimeout %s from %s", v, envKubeletTimeout)
	}
	first := edgestack.MapImages(ctx, t, doc, fixtures, reg, local)

	ca := imagebuild.Cache(t)
	target, err := prepare.ResolveTarget(doc, "")
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := image.ResolveEpoch(0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := prepare.NewImageSource(doc, epoch, prepare.Options{Cache: ca, Target: target, BundleImages: bundle})
	if err != nil {
		t.Fatal(err)
	}
	extra := withBinaries{PayloadSource: src, files: nodeBinaries(t, bins)}
	out := t.TempDir()
	b, err := image.NewBuilder(image.Options{Spec: doc, OutDir: out, Cache: ca, Epoch: epoch, Source: &extra, Status: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := b.Build(ctx)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	bi := &built{doc: doc, first: first, signer: signer, took: time.Since(start)}
	for _, o := range res.Outputs {
		t.Logf("output %s: %d bytes (%d allocated), sha256 %s", filepath.Base(o.File), o.Size, o.Allocated, o.SHA256)
		switch o.Format {
		case "raw":
			bi.raw = filepath.Join(out, o.File)
		case "qcow2":
			bi.qcow2 = filepath.Join(out, o.File)
		}
	}
	if bi.raw == "" || bi.qcow2 == "" {
		t.Fatalf("outputs %+v: want raw and qcow2", res.Outputs)
	}
	bi.p, _, bi.images = src.Result()
	if store, ok := bi.p.Dirs[k0spath.Containerd(k0spath.DataDir)]; ok {
		if bi.blobs, err = contentBlobs(store); err != nil || len(bi.blobs) == 0 {
			t.Fatalf("preloaded content store %s: %d blobs (%v)", store, len(bi.blobs), err)
		}
	} else if !bundle {
		t.Fatalf("payload has no preloaded containerd root at %s", k0spath.Containerd(k0spath.DataDir))
	}
	t.Logf("built %s and %s in %s: %d images preloaded (%d blobs)", filepath.Base(bi.raw), filepath.Base(bi.qcow2),
		bi.took.Round(time.Second), len(bi.images), len(bi.blobs))
	return bi
}

// nodeBinaries maps node paths to host files for what a release k0s
// carries inside its binary and the k0s of hack/build-bins.sh (built with
// noembedbins) runs from <data-dir>/bin instead: kine, the Kubernetes
// components, containerd, its shim and runc (Debian's, as test/e2e runs
// it). xtables come from the image's iptables package; the CNI plugins of
// network bridge from the package the payload asks for.
func nodeBinaries(t testing.TB, bins map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, p := range bins {
		if n == "k0s" || strings.HasPrefix(n, "xtables-") {
			continue
		}
		out[path.Join(k0spath.DataDir, "bin", n)] = p
	}
	for _, p := range out {
		if _, err := os.Stat(p); err != nil {
			testkit.Require(t, false, err.Error())
		}
	}
	return out
}

// withBinaries is the image's payload source with files added to the
// payload once it is rendered (nodeBinaries).
type withBinaries struct {
	image.PayloadSource
	files map[string]string
	once  sync.Once
}

func (w *withBinaries) Result() (*payload.Payload, []string, []pinned.Image) {
	p, units, images := w.PayloadSource.Result()
	if p != nil {
		w.once.Do(func() {
			names := make([]string, 0, len(w.files))
			for n := range w.files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				p.AddFile(n, 0o755, w.files[n])
			}
		})
	}
	return p, units, images
}

// deviceFile is the per-device config written with `edgeimg
// device-config`: MetalLB addresses on QEMU's user-net subnet.
const deviceFile = `hostname: edge-vm-01
metallb:
  addresses:
    - 10.0.2.200-10.0.2.210
labels:
  example.com/site: lab
  tier: edge
`

// Values of deviceFile the checks compare with.
var (
	deviceHostname = "edge-vm-01"
	deviceLBFirst  = "10.0.2.200"
	deviceLabels   = map[string]string{"example.com/site": "lab", "tier": "edge"}
)

// writeDeviceConfig runs `edgeimg device-config -i raw -f file`, the
// command a user runs after flashing, built from this module.
func writeDeviceConfig(t testing.TB, raw string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "edgeimg")
	build := exec.Command("go", "build", "-o", bin, "./cmd/edgeimg")
	build.Dir = testkit.ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edgeimg: %v\n%s", err, out)
	}
	f := filepath.Join(dir, "edgeimg-device.yaml")
	if err := os.WriteFile(f, []byte(deviceFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "device-config", "-i", raw, "-f", f).CombinedOutput()
	if err != nil {
		t.Fatalf("edgeimg device-config: %v\n%s", err, out)
	}
	t.Logf("edgeimg device-config: %s", strings.TrimSpace(string(out)))
}

// contentBlobs lists the blobs of a containerd root's content store.
func contentBlobs(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, blobsDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// blobsDir is the content store's blob directory in a containerd root.
const blobsDir = "io.containerd.content.v1.content/blobs/sha256"

// testLog writes each line to the test's log.
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
