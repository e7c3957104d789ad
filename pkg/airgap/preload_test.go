package airgap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/content/local"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/metadata"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// pulledFixture pushes the standard images to a new registry and pulls
// them for linux/amd64.
func pulledFixture(t testing.TB) (*regtest.Registry, regtest.Fixture, *Store, []Image) {
	t.Helper()
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	st := newStore(t)
	res, err := Pull(context.Background(), st, refsAt(fx.Hello, fx.Multi, fx.Sibling), Options{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	return reg, fx, st, res.Images
}

// treeHash hashes every path, mode, mtime and content below root.
func treeHash(t testing.TB, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		io.WriteString(h, rel+"\x00"+fi.Mode().String()+"\x00"+fi.ModTime().UTC().String()+"\x00")
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			io.Copy(h, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// openMeta opens a preloaded root with containerd's metadata package.
func openMeta(t testing.TB, root string) (*metadata.DB, func()) {
	t.Helper()
	cs, err := local.NewStore(filepath.Join(root, contentDir))
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(root, metaDir, "meta.db"), 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db := metadata.NewDB(bdb, cs, nil)
	if err := db.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, func() { bdb.Close() }
}

func TestPreloadRecordsReproducibleAndGCSafe(t *testing.T) {
	_, _, st, imgs := pulledFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := st.Preload(ctx, a, imgs, PreloadOptions{}); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(imgs)
	if err := st.Preload(ctx, b, imgs, PreloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if ha, hb := treeHash(t, a), treeHash(t, b); ha != hb {
		t.Errorf("two preloads of the same images differ: %s vs %s", ha, hb)
	}

	db, closeDB := openMeta(t, a)
	nctx := namespaces.WithNamespace(ctx, Namespace)
	recs, err := metadata.NewImageStore(db).List(nctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]digest.Digest{}
	for _, r := range recs {
		got[r.Name] = r.Target.Digest
		if r.Labels[PinnedLabel] != "pinned" {
			t.Errorf("%s: labels %v", r.Name, r.Labels)
		}
	}
	want := map[string]digest.Digest{}
	for _, im := range imgs {
		for _, n := range im.Names() {
			want[n] = im.Target.Digest
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("image records %v, want %v", got, want)
	}

	// containerd's own garbage collector keeps every blob: the image
	// records are roots, the labels reference the rest.
	if _, err := db.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	cs := db.ContentStore()
	for _, im := range imgs {
		for _, bl := range im.Blobs() {
			if _, err := cs.Info(nctx, bl.Digest); err != nil {
				t.Errorf("%s: blob %s after GC: %v", im.Name, bl.Digest, err)
			}
		}
	}
	// Control: without the reference labels GC drops the layers.
	hello := imgs[slices.IndexFunc(imgs, func(im Image) bool { return strings.HasSuffix(im.Name, "/hello") })]
	info, err := cs.Info(nctx, hello.Manifest.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for k := range info.Labels {
		if strings.HasPrefix(k, "containerd.io/gc.ref.content.l.") {
			fields = append(fields, "labels."+k)
			delete(info.Labels, k)
		}
	}
	if len(fields) != len(hello.Layers) {
		t.Fatalf("manifest labels %v, want one per layer", info.Labels)
	}
	if _, err := cs.Update(nctx, info, fields...); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	whiteoutLayer := hello.Layers[2].Digest // used by hello only
	if _, err := cs.Info(nctx, whiteoutLayer); err == nil {
		t.Error("GC kept an unreferenced layer: the GC check above proves nothing")
	}
	closeDB()
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPreloadErrorsLeaveNothing(t *testing.T) {
	_, _, st, imgs := pulledFixture(t)
	ctx := context.Background()
	dir := t.TempDir()

	// An existing, non-empty root is not overwritten.
	existing := filepath.Join(dir, "existing")
	os.MkdirAll(existing, 0o755)
	os.WriteFile(filepath.Join(existing, "keep"), []byte("mine"), 0o644)
	if err := st.Preload(ctx, existing, imgs, PreloadOptions{}); !errors.Is(err, fsutil.ErrExists) {
		t.Errorf("preload over a non-empty dir: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(existing, "keep")); string(data) != "mine" {
		t.Error("existing root changed")
	}

	// A blob missing from the store: an error, and no root.
	os.Remove(st.Path(imgs[0].Layers[0].Digest))
	root := filepath.Join(dir, "root")
	err := st.Preload(ctx, root, imgs, PreloadOptions{})
	if err == nil || !strings.Contains(err.Error(), imgs[0].Layers[0].Digest.String()) {
		t.Errorf("preload with a missing blob: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "existing" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestPreloadIndexLabelsOnlyThePlatform(t *testing.T) {
	_, fx, st, imgs := pulledFixture(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := st.Preload(context.Background(), root, imgs, PreloadOptions{}); err != nil {
		t.Fatal(err)
	}
	db, closeDB := openMeta(t, root)
	defer closeDB()
	nctx := namespaces.WithNamespace(context.Background(), Namespace)
	multi := imgs[slices.IndexFunc(imgs, func(im Image) bool { return im.Target.Digest.String() == fx.MultiDigest })]
	info, err := db.ContentStore().Info(nctx, multi.Target.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for k, v := range info.Labels {
		if strings.HasPrefix(k, "containerd.io/gc.ref.content.") {
			refs = append(refs, v)
		}
	}
	if len(refs) != 1 || refs[0] != multi.Manifest.Digest.String() {
		t.Errorf("index labels %v, want one reference to the amd64 manifest %s", info.Labels, multi.Manifest.Digest)
	}
	if ok, _, _, _, err := images.Check(nctx, db.ContentStore(), multi.Target, platformsOnly(t, "linux/amd64")); err != nil || !ok {
		t.Errorf("containerd's images.Check: %v %v", ok, err)
	}
}

func platformsOnly(t testing.TB, p string) platforms.MatchComparer {
	t.Helper()
	return platforms.Only(platforms.MustParse(p))
}
