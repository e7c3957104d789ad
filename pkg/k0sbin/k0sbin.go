package k0sbin

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// release is one pinned k0s binary.
type release struct {
	url    string
	sha256 string // hex
}

// catalog maps a k0s version to its binaries by GOARCH.
type catalog map[string]map[string]release

// k0sReleases are the k0s binaries edgeimg knows; sha256 from nixpkgs
// (pkgs/applications/networking/cluster/k0s), converted from SRI base64.
// v1.33.8+k0s.1 embeds Kubernetes 1.33.8, the version of the k0s module
// this package builds k0s.yaml with.
func k0sReleases() catalog {
	const base = "https://github.com/k0sproject/k0s/releases/download/v1.33.8+k0s.1/k0s-v1.33.8+k0s.1-"
	return catalog{
		"v1.33.8+k0s.1": {
			"amd64": {url: base + "amd64", sha256: "a90f8a264e97d788367db4dc0f3f5e2a2e07e4a44925eb444144f4968ce3c4db"},
			"arm64": {url: base + "arm64", sha256: "54e7a3fb98311e3c1cfa77d1a64cd31f5b36061913370e98da04e64302dbcac9"},
		},
	}
}

// KnownVersions are the k0s versions with pinned binaries.
func KnownVersions() []string { return k0sReleases().versions() }

func (cat catalog) versions() []string {
	var v []string
	for k := range cat {
		v = append(v, k)
	}
	slices.Sort(v)
	return v
}

// Fetch returns the path of the k0s binary of version for arch (GOARCH:
// amd64, arm64) in the cache, downloading and verifying it against its
// pinned sha256 the first time.
func Fetch(ctx context.Context, c *cache.Cache, version, arch string) (string, error) {
	return k0sReleases().binary(ctx, c, version, arch)
}

func (cat catalog) binary(ctx context.Context, c *cache.Cache, version, arch string) (string, error) {
	arches, ok := cat[version]
	if !ok {
		return "", fmt.Errorf("k0s %s: no pinned binary for this version (known: %s): set spec.k0s.binary to a k0s %s binary for %s",
			version, strings.Join(cat.versions(), ", "), version, arch)
	}
	r, ok := arches[arch]
	if !ok {
		var known []string
		for a := range arches {
			known = append(known, a)
		}
		slices.Sort(known)
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
