package prepare

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// edgeSpec is the default spec with every image the node needs (Knative,
// Kourier, MetalLB, k0s's system images, the hello service) replaced by a
// small image pushed to an in-process registry: the real rendering, pull,
// pin and preload path, without the internet.
func edgeSpec(t *testing.T, reg *regtest.Registry) *spec.Document {
	t.Helper()
	d := spec.Default()
	d.Spec.Upstream = fixtures.Upstream(t)
	bin := filepath.Join(t.TempDir(), "k0s")
	if err := os.WriteFile(bin, []byte("k0s for linux/amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.Spec.K0s.Binary = bin
	r, err := render.NodeConfig(context.Background(), d, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := airgap.Find(r.Bundle.Objects(), nil, r.K0s.SystemImages())
	layer := regtest.Layer(t, regtest.File{Name: "hello", Data: []byte("hello")})
	d.Spec.Images.Replace = map[string]string{}
	for i, ref := range refs {
		to := reg.Ref(fmt.Sprintf("edge/image-%d:v1", i))
		regtest.Push(t, to, regtest.Index(t,
			regtest.Image(t, "linux/amd64", []string{"/hello"}, layer),
			regtest.Image(t, "linux/arm64", []string{"/hello"}, layer)))
		d.Spec.Images.Replace[ref.Ref] = to
	}
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPrepareNode(t *testing.T) {
	ctx := context.Background()
	reg := regtest.Start(t)
	d := edgeSpec(t, reg)
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewPayloadBuilder(d, Options{Cache: c, Target: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(n.Images) < 12 {
		t.Errorf("%d images, want every Knative/Kourier/MetalLB/k0s/hello image", len(n.Images))
	}

	// Every image field of every stack is pinned by digest to the name
	// the node uses.
	refs, _ := airgap.Find(n.Render.Bundle.Objects(), nil, nil)
	if len(refs) < 9 {
		t.Fatalf("only %d image references in the stacks", len(refs))
	}
	for _, r := range refs {
		if !strings.HasPrefix(r.Ref, reg.Host+"/") || !strings.Contains(r.Ref, "@sha256:") {
			t.Errorf("not pinned to the node's name by digest: %s (%v)", r.Ref, r.Locations)
		}
	}
	// And so is every k0s system image in k0s.yaml.
	for _, ref := range n.Render.K0s.SystemImages() {
		if !strings.HasPrefix(ref, reg.Host+"/") || !strings.Contains(ref, ":v1@sha256:") {
			t.Errorf("k0s system image not pinned: %s", ref)
		}
	}
	y, err := n.Render.K0s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "v1@sha256:") {
		t.Errorf("k0s.yaml carries no pinned image:\n%s", y)
	}

	p, err := n.Payload()
	if err != nil {
		t.Fatal(err)
	}
	var sawBinary, sawConfig bool
	for _, f := range p.Files {
		sawBinary = sawBinary || f.Path == k0spath.Binary
		if f.Path == k0spath.Config {
			sawConfig = string(f.Data) == string(y)
		}
		if strings.HasPrefix(f.Path, "/var/lib/k0s/manifests/") && strings.Contains(string(f.Data), "gcr.io/knative-releases") {
			t.Errorf("%s still names an upstream registry", f.Path)
		}
	}
	if !sawBinary || !sawConfig {
		t.Errorf("payload: k0s binary %v, pinned k0s.yaml %v", sawBinary, sawConfig)
	}

	root, err := n.PreloadedRoot(ctx, time.Unix(1735689600, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "io.containerd.metadata.v1.bolt", "meta.db")); err != nil {
		t.Errorf("preloaded root has no metadata database: %v", err)
	}
	again, err := n.PreloadedRoot(ctx, time.Unix(1735689600, 0))
	if err != nil || again != root {
		t.Errorf("second preload: %s, %v; want the cached %s", again, err, root)
	}
	bundle, err := n.BundleFile()
	if err != nil {
		t.Fatal(err)
	}
	if names := tarNames(t, bundle); !names["index.json"] || !names["oci-layout"] {
		t.Errorf("bundle is not an OCI layout: %v", names)
	}

	// A second node from the same cache needs no registry.
	reg.Close()
	n2, err := NewPayloadBuilder(d, Options{Cache: c, Target: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Run(ctx); err != nil {
		t.Fatalf("warm run without the registry: %v", err)
	}
	if n2.Fetched != 0 {
		t.Errorf("warm run fetched %d bytes", n2.Fetched)
	}
}

func TestPrepareErrors(t *testing.T) {
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPayloadBuilder(spec.Default(), Options{Cache: c}); err == nil || !strings.Contains(err.Error(), "spec.images.platform") {
		t.Errorf("no platform: %v", err)
	}
	n, _ := NewPayloadBuilder(spec.Default(), Options{Cache: c, Target: amd64})
	if err := n.PullImages(context.Background()); err == nil {
		t.Error("pull before render succeeded")
	}
	// An image the registry does not have fails with its reference and
	// where it was found.
	reg := regtest.Start(t)
	d := edgeSpec(t, reg)
	for from := range d.Spec.Images.Replace {
		if strings.Contains(from, "helloworld-go") {
			d.Spec.Images.Replace[from] = reg.Ref("edge/missing:v1")
		}
	}
	n, _ = NewPayloadBuilder(d, Options{Cache: c, Target: amd64})
	err = n.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "edge/missing:v1") || !strings.Contains(err.Error(), "knative-services") {
		t.Errorf("missing image: %v", err)
	}
}

func tarNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

// amd64 is the node of the tests: an x86_64-efi board's platform.
var amd64 = Target{Platform: "linux/amd64", Arch: "amd64"}
