package airgap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/content/local"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/metadata"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// Containerd names used by Preload.
const (
	// Namespace is the containerd namespace of the Kubernetes CRI.
	Namespace = "k8s.io"
	// PinnedLabel marks images kubelet's image GC must keep (CRI's
	// io.cri-containerd.pinned, which k0s sets on the images it imports).
	PinnedLabel = "io.cri-containerd.pinned"

	contentDir = "io.containerd.content.v1.content"
	metaDir    = "io.containerd.metadata.v1.bolt"
)

// PreloadOptions tune Preload.
type PreloadOptions struct {
	// Force replaces an existing non-empty root.
	Force bool
	// Time is the creation time recorded for every image and blob, so the
	// same images give the same bytes; zero means $SOURCE_DATE_EPOCH, else
	// the Unix epoch.
	Time time.Time
}

// Preload writes images into a new containerd root directory (k0s uses
// /var/lib/k0s/containerd) with containerd 1.7's own packages, which
// containerd 1.7 and 2.x both read as written (see the package doc): the
// blobs into its content store, the records into its
// metadata database, in namespace k8s.io. Each image is stored under every
// name manifests use for it (Image.Names: name:tag, name@digest,
// name:tag@digest), labelled io.cri-containerd.pinned=pinned, and its
// blobs carry the garbage-collection references containerd's importer
// sets (for the node's platform), so containerd never collects them.
//
// Layers are not unpacked into snapshots: the CRI plugin unpacks an image
// when it first creates a container from it (see the package doc for why
// and what it costs). root appears only when complete; the output is
// reproducible: the same images and Time give the same bytes.
func (s *Store) Preload(ctx context.Context, root string, imgs []Image, opt PreloadOptions) error {
	if len(imgs) == 0 {
		return fmt.Errorf("preload %s: no images", root)
	}
	tmp, commit, abort, err := fsutil.StageDir(ctx, root, opt.Force)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	if err := s.preload(ctx, tmp, imgs, preloadTime(opt.Time)); err != nil {
		abort()
		return fmt.Errorf("preload %s: %w", root, err)
	}
	if err := commit(); err != nil {
		abort()
		return fmt.Errorf("preload: %w", err)
	}
	return nil
}

func preloadTime(t time.Time) time.Time {
	if !t.IsZero() {
		return t.UTC()
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func (s *Store) preload(ctx context.Context, root string, imgs []Image, at time.Time) error {
	cs, err := local.NewStore(filepath.Join(root, contentDir))
	if err != nil {
		return err
	}
	dbPath := filepath.Join(root, metaDir, "meta.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o711); err != nil {
		return err
	}
	bdb, err := bolt.Open(dbPath, 0o644, &bolt.Options{NoFreelistSync: true, Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", dbPath, err)
	}
	closed := false
	defer func() {
		if !closed {
			bdb.Close()
		}
	}()
	mdb := metadata.NewDB(bdb, cs, nil)
	if err := mdb.Init(ctx); err != nil {
		return fmt.Errorf("init %s: %w", dbPath, err)
	}
	ctx = namespaces.WithNamespace(ctx, Namespace)
	mcs := mdb.ContentStore()

	// Blobs, each once, in digest order.
	blobs := map[digest.Digest]ocispec.Descriptor{}
	for _, im := range imgs {
		for _, b := range im.Blobs() {
			blobs[b.Digest] = b
		}
	}
	order := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, d := range order {
		if err := ctx.Err(); err != nil {
			return err // interrupted: Preload removes what was staged
		}
		if err := s.writeBlob(ctx, mcs, blobs[d]); err != nil {
			return err
		}
	}

	// GC references, exactly as containerd's importer sets them: every
	// parent labelled with the children walked for the platform.
	for _, im := range imgs {
		m := platforms.Only(im.Platform)
		h := images.SetChildrenLabels(mcs, images.FilterPlatforms(images.ChildrenHandler(mcs), m))
		if err := images.WalkNotEmpty(ctx, h, im.Target); err != nil {
			return fmt.Errorf("image %s: set gc references: %w", im.Pinned(), err)
		}
		ok, _, _, missing, err := images.Check(ctx, mcs, im.Target, m)
		if err != nil {
			return fmt.Errorf("image %s: %w", im.Pinned(), err)
		}
		if !ok {
			return fmt.Errorf("image %s: incomplete for %s: missing %v", im.Pinned(), im.PlatformString(), missing)
		}
	}

	// Image records, by name.
	is := metadata.NewImageStore(mdb)
	byName := map[string]Image{}
	for _, im := range imgs {
		for _, n := range im.Names() {
			if prev, ok := byName[n]; ok && prev.Target.Digest != im.Target.Digest {
				return fmt.Errorf("%s names two images: %s and %s", n, prev.Target.Digest, im.Target.Digest)
			}
			byName[n] = im
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rec := images.Image{Name: n, Target: byName[n].Target, Labels: map[string]string{PinnedLabel: "pinned"}}
		if _, err := is.Create(ctx, rec); err != nil {
			return fmt.Errorf("image %s: %w", n, err)
		}
	}

	closed = true
	if err := bdb.Close(); err != nil {
		return err
	}
	if err := normalizeDB(dbPath, at); err != nil {
		return fmt.Errorf("normalize %s: %w", dbPath, err)
	}
	return setTimes(root, at)
}

func (s *Store) writeBlob(ctx context.Context, cs content.Store, desc ocispec.Descriptor) error {
	f, err := s.Open(desc.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w (pull the images first)", desc.Digest, err)
	}
	defer f.Close()
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	if err := content.WriteBlob(ctx, cs, "preload-"+desc.Digest.Encoded(), f, desc); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return nil
}

// normalizeDB makes the metadata database reproducible: every
// createdat/updatedat is set to at, and the database is copied into a new
// file in an order that depends only on its content.
func normalizeDB(path string, at time.Time) error {
	ts, err := at.MarshalBinary()
	if err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{NoFreelistSync: true, Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return setTimestamps(b, ts)
		})
	})
	if err != nil {
		db.Close()
		return err
	}
	out := path + ".compact"
	os.Remove(out)
	dst, err := bolt.Open(out, 0o644, &bolt.Options{NoFreelistSync: true, NoSync: true, Timeout: 10 * time.Second})
	if err != nil {
		db.Close()
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return copyBucket(dst, [][]byte{name}, b)
		})
	})
	if err == nil {
		err = dst.Sync()
	}
	err = errors.Join(err, dst.Close(), db.Close())
	if err != nil {
		os.Remove(out)
		return err
	}
	return os.Rename(out, path)
}

// copyBucket copies one bucket's keys into dst in a transaction of its
// own, then its sub-buckets, in key order. bbolt lays out the pages of
// the buckets a transaction touches in map order, so a transaction that
// touches one chain of buckets is what makes the file depend on the
// content alone (bbolt's Compact writes many buckets per transaction).
func copyBucket(dst *bolt.DB, path [][]byte, src *bolt.Bucket) error {
	var subs [][]byte
	err := dst.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(path[0])
		if err != nil {
			return err
		}
		for _, p := range path[1:] {
			if b, err = b.CreateBucketIfNotExists(p); err != nil {
				return err
			}
		}
		if err := b.SetSequence(src.Sequence()); err != nil {
			return err
		}
		return src.ForEach(func(k, v []byte) error {
			if v == nil {
				subs = append(subs, append([]byte(nil), k...))
				return nil
			}
			return b.Put(append([]byte(nil), k...), append([]byte(nil), v...))
		})
	})
	if err != nil {
		return err
	}
	for _, k := range subs {
		if err := copyBucket(dst, append(path[:len(path):len(path)], k), src.Bucket(k)); err != nil {
			return err
		}
	}
	return nil
}

func setTimestamps(b *bolt.Bucket, ts []byte) error {
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				return setTimestamps(sub, ts)
			}
			return nil
		}
		if string(k) == "createdat" || string(k) == "updatedat" {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Put(k, ts); err != nil {
			return err
		}
	}
	return nil
}

// setTimes sets the modification time of everything below root.
func setTimes(root string, at time.Time) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		return os.Chtimes(p, at, at)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i], at, at); err != nil {
			return err
		}
	}
	return nil
}
