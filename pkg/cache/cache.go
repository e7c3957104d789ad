package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// Cache is a cache root directory.
type Cache struct {
	Root   string
	Client *http.Client // nil means a client with a 30 min timeout
}

// DefaultRoot is $EDGEIMG_CACHE, else <user cache dir>/edgeimg.
func DefaultRoot() string {
	if d := os.Getenv("EDGEIMG_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "edgeimg")
	}
	return filepath.Join(os.TempDir(), "edgeimg-cache")
}

// New opens (creating) a cache at root; "" means DefaultRoot.
func New(root string) (*Cache, error) {
	if root == "" {
		root = DefaultRoot()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", root, err)
	}
	return &Cache{Root: root}, nil
}

// Dir returns (creating) a directory for derived artifacts.
func (c *Cache) Dir(parts ...string) (string, error) {
	d := filepath.Join(append([]string{c.Root}, parts...)...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("cache %s: %w", d, err)
	}
	return d, nil
}

var hexRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BlobPath is where content with the given sha256 (hex) lives.
func (c *Cache) BlobPath(sha string) string {
	return filepath.Join(c.Root, "blobs", "sha256", sha)
}

// Has reports whether the blob is cached.
func (c *Cache) Has(sha string) bool { return fsutil.Exists(c.BlobPath(sha)) }

// ErrChecksum is returned when content does not match its pinned sha256.
var ErrChecksum = errors.New("checksum mismatch")

// Put stores what r yields, verifying it hashes to sha (hex); nothing is
// left in the cache when it does not.
func (c *Cache) Put(r io.Reader, sha string) (string, error) {
	if !hexRe.MatchString(sha) {
		return "", fmt.Errorf("bad sha256 %q: expected 64 lowercase hex digits", sha)
	}
	dest := c.BlobPath(sha)
	err := fsutil.WriteWith(dest, 0o644, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sha {
			return fmt.Errorf("%w: got sha256 %s, want %s", ErrChecksum, got, sha)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return dest, nil
}

// Fetch returns the cached path of the file at url pinned to sha (hex),
// downloading and verifying it when it is not cached yet.
func (c *Cache) Fetch(ctx context.Context, url, sha string) (string, error) {
	if c.Has(sha) {
		return c.BlobPath(sha), nil
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: %s", url, resp.Status)
	}
	p, err := c.Put(resp.Body, sha)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	return p, nil
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
