package airgap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ctrImages parses `ctr -n k8s.io images ls`: name → target digest (the
// rows whose third column is a digest: ctr 2.x may print warnings first).
func ctrImages(t testing.TB, c *ctrd.Daemon) map[string]string {
	t.Helper()
	out, err := c.Ctr("-n", Namespace, "images", "ls")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(f[2], "sha256:") {
			got[f[0]] = f[2]
		}
	}
	return got
}

func wantNames(imgs []Image) map[string]string {
	want := map[string]string{}
	for _, im := range imgs {
		for _, n := range im.Names() {
			want[n] = im.Target.Digest.String()
		}
	}
	return want
}

// runHello runs /hello of an image with no network and checks the
// whiteouts of the fixture's third layer took effect.
func runHello(t *testing.T, c *ctrd.Daemon, image, id string, whiteouts bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.CtrContext(ctx, "-n", Namespace, "run", "--rm", image, id,
		"/hello", "/etc/base.txt", "/etc/gone.txt", "/opq/old.txt", "/opq/keep.txt")
	if err != nil {
		t.Fatalf("ctr run %s: %v", image, err)
	}
	want := []string{"hello from a preloaded image", "present /etc/base.txt"}
	if whiteouts {
		want = append(want, "absent /etc/gone.txt", "absent /opq/old.txt", "present /opq/keep.txt")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("ctr run %s: output %q lacks %q", image, out, w)
		}
	}
}

// containerdVersions are the containerd releases the k0s lines embed: one
// preloaded store serves both (1.7 for k0s 1.33 and 1.35, 2.3 for 1.36).
var containerdVersions = []string{ctrd.Version, ctrd.Version2}

func TestPreloadedStoreRunsOffline(t *testing.T) {
	for _, v := range containerdVersions {
		t.Run("containerd "+v, func(t *testing.T) { testPreloadedStoreRunsOffline(t, v) })
	}
}

func testPreloadedStoreRunsOffline(t *testing.T, version string) {
	ctrd.NeedVersion(t, version)
	reg, fx, st, imgs := pulledFixture(t)
	root := filepath.Join(t.TempDir(), "containerd")
	if err := st.Preload(context.Background(), root, imgs, PreloadOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.Close() // nothing below may reach a registry
	c := ctrd.Start(t, ctrd.Options{Root: root, Version: version})

	got := ctrImages(t, c)
	if want := wantNames(imgs); !mapsEqual(got, want) {
		t.Errorf("ctr images ls: %s", mapDiff(got, want))
	}
	// By the pinned reference (a single-platform manifest, then an index
	// digest) and by tag: the containers start, whiteouts applied.
	runHello(t, c, imgs[0].Pinned(), "hello-pinned", true)
	runHello(t, c, fx.Multi[:strings.LastIndex(fx.Multi, ":")]+"@"+fx.MultiDigest, "multi-index", false)
	runHello(t, c, fx.Sibling, "sibling-tag", false)

	// Garbage collection: an unreferenced blob is dropped (by the GC the
	// image removal below runs, or by one the daemon ran on its own
	// before), every blob of the preloaded images stays, even after an
	// image loses names.
	stray := "stray blob, referenced by nothing\n"
	if out, err := c.CtrStdin(stray, "-n", Namespace, "content", "ingest", "stray"); err != nil {
		t.Fatalf("ingest: %v %s", err, out)
	}
	strayDigest := digest.FromString(stray).String()
	if _, err := c.Ctr("-n", Namespace, "images", "rm", "--sync", fx.Sibling); err != nil {
		t.Fatal(err)
	}
	contentList, err := c.Ctr("-n", Namespace, "content", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(contentList, strayDigest) {
		t.Error("GC did not run: the stray blob is still there")
	}
	for _, im := range imgs {
		for _, b := range im.Blobs() {
			if !strings.Contains(contentList, b.Digest.String()) {
				t.Errorf("%s: blob %s collected", im.Name, b.Digest)
			}
		}
	}
	runHello(t, c, imgs[0].Pinned(), "hello-after-gc", true)

	// Restart on the same root: still all there.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	c2 := ctrd.Start(t, ctrd.Options{Root: root, Version: version})
	got = ctrImages(t, c2)
	if len(got) != len(wantNames(imgs))-1 {
		t.Errorf("after restart: %d images, want %d", len(got), len(wantNames(imgs))-1)
	}
	runHello(t, c2, fx.Sibling[:strings.LastIndex(fx.Sibling, ":")]+"@"+fx.SiblingDigest, "sibling-by-digest", false)
}

func TestBundleImportsIntoContainerd(t *testing.T) {
	ctrd.Need(t)
	reg, fx, st, imgs := pulledFixture(t)
	bundle := filepath.Join(t.TempDir(), "images.tar")
	if err := st.WriteBundleFile(bundle, imgs, false); err != nil {
		t.Fatal(err)
	}
	reg.Close()

	t.Run("ctr images import", func(t *testing.T) {
		c := ctrd.Start(t, ctrd.Options{})
		if out, err := c.Ctr("-n", Namespace, "images", "import", bundle); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got, want := ctrImages(t, c), wantNames(imgs); !mapsEqual(got, want) {
			t.Errorf("ctr images ls:\n%v\nwant\n%v", got, want)
		}
		runHello(t, c, imgs[0].Pinned(), "imported", true)
	})
	t.Run("client.Import WithSkipMissing as k0s", func(t *testing.T) {
		c := ctrd.Start(t, ctrd.Options{})
		client, err := containerd.New(c.Address, containerd.WithDefaultNamespace(Namespace),
			containerd.WithDefaultPlatform(platforms.Only(platforms.DefaultSpec())))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		f, err := os.Open(bundle)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got, err := client.Import(context.Background(), f, containerd.WithSkipMissing())
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, im := range got {
			names[im.Name] = im.Target.Digest.String()
		}
		if want := wantNames(imgs); !mapsEqual(names, want) {
			t.Errorf("imported %v, want %v", names, want)
		}
		runHello(t, c, fx.Multi, "k0s-imported", false)
	})
}

// TestCRISeesPreloadedImages starts containerd with its CRI plugin on a
// preloaded root, for each containerd the k0s lines embed, and asks the CRI
// image service, as kubelet does: every image is there at the first start,
// pinned, with nothing imported (the content store holds exactly the blobs
// Preload wrote, the metadata's images are Preload's).
func TestCRISeesPreloadedImages(t *testing.T) {
	for _, v := range containerdVersions {
		t.Run("containerd "+v, func(t *testing.T) { testCRISeesPreloadedImages(t, v) })
	}
}

func testCRISeesPreloadedImages(t *testing.T, version string) {
	ctrd.NeedVersion(t, version)
	reg, _, st, imgs := pulledFixture(t)
	root := filepath.Join(t.TempDir(), "containerd")
	if err := st.Preload(context.Background(), root, imgs, PreloadOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	blobsBefore := contentBlobs(t, root)
	c := ctrd.Start(t, ctrd.Options{Root: root, CRI: true, Version: version})
	conn, err := grpc.NewClient("unix://"+c.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	is := runtimeapi.NewImageServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var list *runtimeapi.ListImagesResponse
	for {
		list, err = is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
		if err == nil && len(list.Images) >= len(imgs) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("CRI ListImages: %v\n%s", err, c.LogTail(20))
	}
	seen := map[string]bool{}
	for _, im := range list.Images {
		for _, r := range append(im.RepoTags, im.RepoDigests...) {
			seen[r] = true
		}
		if !im.Pinned {
			t.Errorf("CRI image %v is not pinned", im.RepoTags)
		}
	}
	for _, im := range imgs {
		// kubelet asks for what the pod spec says: the pinned reference.
		st, err := is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: im.Pinned()}})
		if err != nil || st.Image == nil {
			t.Errorf("CRI ImageStatus(%s): %v %v", im.Pinned(), st, err)
			continue
		}
		if st.Image.Id != im.Config.Digest.String() {
			t.Errorf("CRI ImageStatus(%s): id %s, want config %s", im.Pinned(), st.Image.Id, im.Config.Digest)
		}
		if im.Tag != "" && !seen[im.Name+":"+im.Tag] {
			t.Errorf("CRI lists no tag %s:%s (%v)", im.Name, im.Tag, seen)
		}
		if !seen[im.Name+"@"+im.Target.Digest.String()] {
			t.Errorf("CRI lists no digest %s@%s (%v)", im.Name, im.Target.Digest, seen)
		}
	}
	// Nothing imported: the image records are Preload's names and targets
	// besides the image-ID references the CRI plugin adds (named
	// sha256:<config digest>, for a target of Preload's), and the content
	// store has exactly Preload's blobs.
	got, want := ctrImages(t, c), wantNames(imgs)
	targets := map[string]bool{}
	for _, d := range want {
		targets[d] = true
	}
	for n, d := range got {
		if strings.HasPrefix(n, "sha256:") && targets[d] {
			delete(got, n)
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("containerd %s images against Preload's: %s", version, mapDiff(got, want))
	}
	if after := contentBlobs(t, root); !slices.Equal(after, blobsBefore) {
		t.Errorf("containerd %s: the content store changed: %d blobs after Preload, %d after the start", version, len(blobsBefore), len(after))
	}
}

// mapDiff says what got has that want has not, and the other way round.
func mapDiff(got, want map[string]string) string {
	var extra, missing []string
	for k, v := range got {
		if w, ok := want[k]; !ok || w != v {
			extra = append(extra, k+" → "+v)
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			missing = append(missing, k+" → "+v)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	return fmt.Sprintf("unexpected %q, missing %q", extra, missing)
}

// contentBlobs lists the blobs of a containerd root's content store.
func contentBlobs(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	dir := filepath.Join(root, contentDir, "blobs")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
