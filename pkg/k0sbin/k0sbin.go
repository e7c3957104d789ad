package k0sbin

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Fetch returns the path of the k0s binary of version for arch (GOARCH:
// amd64, arm64) in the cache, downloading and verifying it against its
// pinned sha256 the first time.
func Fetch(ctx context.Context, c *cache.Cache, version, arch string) (string, error) {
	return k0sReleases().binary(ctx, c, version, arch)
}

func (cat catalog) binary(ctx context.Context, c *cache.Cache, version, arch string) (string, error) {
	rel, ok := cat[version]
	if !ok {
		return "", fmt.Errorf("k0s %s: no pinned binary for this version (known: %s): set spec.k0s.binary to a k0s %s binary for %s",
			version, strings.Join(cat.versions(), ", "), version, arch)
	}
	r, ok := rel.bins[arch]
	if !ok {
		known := rel.info(version).Arches
		return "", fmt.Errorf("k0s %s: no pinned binary for %s (known: %s): set spec.k0s.binary", version, arch, strings.Join(known, ", "))
	}
	p, err := c.Fetch(ctx, r.url, r.sha256)
	if err != nil {
		return "", fmt.Errorf("k0s %s %s: %w", version, arch, err)
	}
	return p, nil
}

// Resolve is the k0s binary for the spec: spec.k0s.binary when set (it
// must be an existing regular file), else the catalog's for
// spec.k0s.version and arch.
func Resolve(ctx context.Context, c *cache.Cache, k *spec.K0s, arch string) (string, error) {
	return k0sReleases().resolve(ctx, c, k, arch)
}

func (cat catalog) resolve(ctx context.Context, c *cache.Cache, k *spec.K0s, arch string) (string, error) {
	if k.Binary == "" {
		return cat.binary(ctx, c, k.Version, arch)
	}
	fi, err := os.Stat(k.Binary)
	switch {
	case err != nil:
		return "", &spec.FieldError{Field: "spec.k0s.binary", Msg: fmt.Sprintf("%s: expected an existing k0s binary for %s", err, arch)}
	case !fi.Mode().IsRegular():
		return "", &spec.FieldError{Field: "spec.k0s.binary", Msg: fmt.Sprintf("%s is not a regular file: expected a k0s binary for %s", k.Binary, arch)}
	}
	return k.Binary, nil
}
