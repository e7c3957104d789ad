package airgap

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/containerd/containerd/images"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// WriteBundle writes images as one uncompressed OCI image layout tar, the
// form k0s imports from <data-dir>/images at every start (with containerd's
// client.Import and WithSkipMissing): index.json lists the target of every
// image once per name (Image.Names), the full reference in the
// io.containerd.image.name and org.opencontainers.image.ref.name
// annotations; each blob is written once, in digest order, with fixed
// owners, modes and times ($SOURCE_DATE_EPOCH, else the Unix epoch), so
// the same images give the same bytes.
func (s *Store) WriteBundle(w io.Writer, imgs []Image) error {
	if len(imgs) == 0 {
		return fmt.Errorf("bundle: no images")
	}
	at := preloadTime(time.Time{})
	byName := map[string]ocispec.Descriptor{}
	blobs := map[digest.Digest]ocispec.Descriptor{}
	for _, im := range imgs {
		for _, n := range im.Names() {
			if prev, ok := byName[n]; ok && prev.Digest != im.Target.Digest {
				return fmt.Errorf("bundle: %s names two images: %s and %s", n, prev.Digest, im.Target.Digest)
			}
			byName[n] = im.Target
		}
		for _, b := range im.Blobs() {
			blobs[b.Digest] = b
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, n := range names {
		t := byName[n]
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: t.MediaType, Digest: t.Digest, Size: t.Size,
			Annotations: map[string]string{images.AnnotationImageName: n, ocispec.AnnotationRefName: n},
		})
	}
	indexJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})

	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, size int64) error {
		mode := int64(0o644)
		if typ == tar.TypeDir {
			mode = 0o755
		}
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: size, Mode: mode, ModTime: at, Format: tar.FormatUSTAR})
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layout}, {"index.json", indexJSON}} {
		if err := hdr(f.name, tar.TypeReg, int64(len(f.data))); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := hdr(d, tar.TypeDir, 0); err != nil {
			return err
		}
	}
	order := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, d := range order {
		if err := s.copyBlob(tw, blobs[d], hdr); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	return tw.Close()
}

// copyBlob writes one blob entry, verifying it against its digest.
func (s *Store) copyBlob(tw *tar.Writer, desc ocispec.Descriptor, hdr func(string, byte, int64) error) error {
	f, err := s.Open(desc.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w (pull the images first)", desc.Digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != desc.Size {
		return fmt.Errorf("blob %s: %d bytes in the store, the descriptor says %d", desc.Digest, fi.Size(), desc.Size)
	}
	if err := hdr("blobs/sha256/"+desc.Digest.Encoded(), tar.TypeReg, desc.Size); err != nil {
		return err
	}
	v := desc.Digest.Verifier()
	if _, err := io.Copy(io.MultiWriter(tw, v), f); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if !v.Verified() {
		return fmt.Errorf("blob %s in the store does not match its digest: remove it and pull again", desc.Digest)
	}
	return nil
}

// WriteBundleFile writes the bundle to path atomically; an existing file
// or symlink (the link, not its target) is replaced only with force, a
// directory or special file never (fsutil.CheckFileOutput).
func (s *Store) WriteBundleFile(path string, imgs []Image, force bool) error {
	if err := fsutil.CheckFileOutput(path, force); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return fsutil.WriteWith(path, 0o644, func(w io.Writer) error {
		return s.WriteBundle(w, imgs)
	})
}
