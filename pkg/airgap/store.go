package airgap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// Store is the content-addressed image store every build shares: image
// blobs (indexes, manifests, configs, layers) live with every other
// download in the cache's blobs/sha256, verified on the way in; the
// tag→digest resolutions of earlier pulls are recorded under
// <cache>/oci/tags/<registry>/<repository>:<tag>, so a second pull of the
// same references needs no network.
type Store struct {
	cache *cache.Cache
}

// NewStore returns the image store of a cache.
func NewStore(c *cache.Cache) *Store { return &Store{cache: c} }

// Has reports whether a blob is in the store.
func (s *Store) Has(d digest.Digest) bool {
	return d.Validate() == nil && s.cache.Has(d.Encoded())
}

// Path is the file of a blob.
func (s *Store) Path(d digest.Digest) string { return s.cache.BlobPath(d.Encoded()) }

// Open opens a blob.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return os.Open(s.Path(d))
}

// ReadBlob reads a small blob (a manifest, index or config) and checks it
// against its digest: a cached file is trusted no further than its name.
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.Path(d))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(data); got != d {
		return nil, fmt.Errorf("blob %s in the cache hashes to %s: remove it to fetch it again", d, got)
	}
	return data, nil
}

// put stores a blob read from r, verifying its digest and size; nothing
// is left in the store when they do not match.
func (s *Store) put(r io.Reader, desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return err
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("blob %s: only sha256 digests are supported", desc.Digest)
	}
	if desc.Size >= 0 {
		r = &sizeCheck{r: r, want: desc.Size}
	}
	_, err := s.cache.Put(r, desc.Digest.Encoded())
	return err
}

// sizeCheck fails a read past the expected size, and EOF before it.
type sizeCheck struct {
	r    io.Reader
	want int64
	n    int64
}

func (c *sizeCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.want {
		return n, fmt.Errorf("%w: blob is larger than the %d bytes its descriptor says", cache.ErrChecksum, c.want)
	}
	if errors.Is(err, io.EOF) && c.n != c.want {
		return n, fmt.Errorf("%w: blob has %d bytes, its descriptor says %d", cache.ErrChecksum, c.n, c.want)
	}
	return n, err
}

// tagRecord is a recorded tag→digest resolution.
type tagRecord struct {
	Reference  string             `json:"reference"`
	Target     ocispec.Descriptor `json:"target"`
	ResolvedAt time.Time          `json:"resolvedAt"`
}

func (s *Store) tagPath(name, tag string) string {
	return filepath.Join(s.cache.Root, "oci", "tags", filepath.FromSlash(name)+":"+tag)
}

// Resolved returns the digest a tag was resolved to by an earlier pull.
func (s *Store) Resolved(name, tag string) (ocispec.Descriptor, bool, error) {
	data, err := os.ReadFile(s.tagPath(name, tag))
	if errors.Is(err, fs.ErrNotExist) {
		return ocispec.Descriptor{}, false, nil
	}
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	var rec tagRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("tag record %s: %w", s.tagPath(name, tag), err)
	}
	if err := rec.Target.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("tag record %s: %w", s.tagPath(name, tag), err)
	}
	return rec.Target, true, nil
}

func (s *Store) recordTag(name, tag string, target ocispec.Descriptor, now time.Time) error {
	data, err := json.MarshalIndent(tagRecord{
		Reference:  name + ":" + tag,
		Target:     ocispec.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size},
		ResolvedAt: now.UTC(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(s.tagPath(name, tag), append(data, '\n'), 0o644)
}

// KnownDigest is the digest a reference pins without asking a registry:
// its own digest, or the one an earlier pull recorded for its tag.
func (s *Store) KnownDigest(ref string) (string, bool) {
	r, err := parseRef(ref)
	if err != nil {
		return "", false
	}
	if r.digest != "" {
		return r.digest.String(), true
	}
	d, ok, err := s.Resolved(r.name, r.effectiveTag())
	if err != nil || !ok {
		return "", false
	}
	return d.Digest.String(), true
}
