package image_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// testSpec is the embedded default spec for board, with SSH and keys.
func testSpec(t *testing.T, board string, keys ...string) *spec.Document {
	t.Helper()
	d := spec.Default()
	d.Spec.Board = board
	d.Spec.SSH.Enabled = true
	d.Spec.SSH.AuthorizedKeys = keys
	if d.Spec.OS.Mirror == "" || os.Getenv("EDGEIMG_TEST_MIRROR") != "" {
		d.Spec.OS.Mirror = imagebuild.Mirror()
	}
	// The arm64 boards share one Debian base in tests (one ~12 min
	// emulated mmdebstrap per cold CI run, not two): each adds the other's
	// boot packages.
	switch board {
	case "arm64-efi":
		d.Spec.OS.Packages = []string{"firmware-brcm80211", "raspi-firmware"}
	case "rpi4":
		d.Spec.OS.Packages = []string{"systemd-boot-efi"}
	}
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

// testPayload is a realistic node payload: a stand-in k0s binary for the
// board's architecture (k0s itself is not what these tests check), its
// config, the controller unit, a manifest stack, a real preloaded
// containerd root (images pushed to an in-process registry, pulled and
// preloaded by pkg/airgap) and a directory tree exercising what copying a
// tree must keep (modes, owners, a symlink, a hard link, an xattr).
func testPayload(t *testing.T, goarch string) (*payload.Payload, testTrees) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "k0s")
	gobin, err := exec.LookPath("go")
	testkit.Require(t, err == nil, "go toolchain not found to build the k0s stand-in")
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/k0s-standin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build k0s stand-in: %v\n%s", err, out)
	}
	trees := testTrees{Store: filepath.Join(dir, "containerd"), Tree: filepath.Join(dir, "tree")}
	trees.Images = preload(t, goarch, trees.Store)

	tree := trees.Tree
	files := map[string][]byte{
		filepath.Join(tree, "a/blob"):    []byte("{\"schemaVersion\":2}"),
		filepath.Join(tree, "b/meta.db"): []byte(strings.Repeat("bolt", 4096)),
		filepath.Join(tree, "c/owned"):   []byte("snap"),
	}
	for p, data := range files {
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		must(t, os.WriteFile(p, data, 0o600))
	}
	must(t, os.Chmod(filepath.Join(tree, "a"), 0o711))
	must(t, os.Link(filepath.Join(tree, "a/blob"), filepath.Join(tree, "a/linked")))
	must(t, os.Symlink("b/meta.db", filepath.Join(tree, "meta-link")))
	must(t, os.Chown(filepath.Join(tree, "c/owned"), 65532, 65532))
	if err := unix.Setxattr(filepath.Join(tree, "b/meta.db"), "user.edgeimg.test", []byte("kept"), 0); err != nil {
		t.Logf("no user xattrs on %s (%v): the xattr check is skipped", tree, err)
	}

	// What rendering gives a node: k0s.yaml, the controller unit exactly
	// as 'k0s install controller --single' writes it, the stacks, the
	// staged stacks with their promoter and the site script.
	res, err := render.NodeConfig(context.Background(), spec.Default(), render.Options{Upstream: fixtures.Upstream(t)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := res.Payload()
	if err != nil {
		t.Fatal(err)
	}
	p.AddFile("/usr/local/bin/k0s", 0o755, bin)
	p.AddDir(storeNode, trees.Store)
	p.AddDir(treeNode, tree)
	return p, trees
}

// renderedK0sYAML is the k0s.yaml rendering puts in testPayload.
func renderedK0sYAML(t *testing.T, p *payload.Payload) string {
	t.Helper()
	for _, f := range p.Files {
		if f.Path == k0spath.Config {
			return string(f.Data)
		}
	}
	t.Fatal("payload has no k0s.yaml")
	return ""
}

// Node paths of the payload trees.
const (
	storeNode = "/var/lib/k0s/containerd"
	treeNode  = "/var/lib/edgeimg-test/tree"
)

// testTrees are the host directories behind the payload's trees.
type testTrees struct {
	Store, Tree string
	Images      []airgap.Image
}

// preload pushes the standard fixture images to an in-process registry,
// pulls them for linux/goarch and preloads them into a containerd root.
func preload(t *testing.T, goarch, root string) []airgap.Image {
	t.Helper()
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	refs := []string{fx.Multi}
	if goarch == "amd64" {
		refs = append(refs, fx.Hello, fx.Sibling)
	}
	var rs []airgap.Ref
	for _, r := range refs {
		rs = append(rs, airgap.Ref{Ref: r, Locations: []airgap.Location{{Where: "stack/test.yaml: Deployment default/app", Field: "spec.template.spec.containers[0].image"}}})
	}
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := airgap.NewStore(c)
	res, err := airgap.Pull(context.Background(), st, rs, airgap.Options{Platform: "linux/" + goarch})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := st.Preload(context.Background(), root, res.Images, airgap.PreloadOptions{}); err != nil {
		t.Fatalf("preload: %v", err)
	}
	return res.Images
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// build builds an image into a fresh output dir with the shared cache.
func build(t *testing.T, o image.Options) (*image.Result, string) {
	t.Helper()
	testkit.NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	if o.OutDir == "" {
		o.OutDir = filepath.Join(t.TempDir(), "out")
	}
	if o.Cache == nil {
		o.Cache = imagebuild.Cache(t)
	}
	var status strings.Builder
	o.Status = &status
	b, err := image.NewBuilder(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(context.Background())
	t.Logf("build %s:\n%s", o.Spec.Spec.Board, status.String())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return res, o.OutDir
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copySparse copies a file keeping holes (cp --sparse=always).
func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

// extractPart copies a partition of a raw image into its own file.
func extractPart(t *testing.T, img string, off, size int64, dst string) {
	t.Helper()
	out, err := exec.Command("dd", "if="+img, "of="+dst, "bs=1M", "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off), fmt.Sprintf("count=%d", size), "conv=sparse", "status=none").CombinedOutput()
	if err != nil {
		t.Fatalf("dd: %v: %s", err, out)
	}
}

// boot boots img in QEMU with the spec's memory and one vCPU, waits for
// bootMilestones and logs in as root with signer.
func boot(ctx context.Context, t *testing.T, d *spec.Document, arch, img string, signer ssh.Signer) *qemu.Booted {
	t.Helper()
	return qemu.Boot(ctx, t, qemu.Config{Arch: arch, Disk: img, MemoryMiB: d.Spec.Node.Memory.Value() >> 20, CPUs: 1}, bootMilestones, "root", ssh.PublicKeys(signer))
}
