package airgap

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Options say where images come from and which platform the node runs.
type Options struct {
	// Platform is the node's platform, os/arch[/variant] (linux/arm64).
	Platform string
	// Replace rewrites reference prefixes; the node uses the rewritten
	// names (spec.images.replace).
	Replace Rewrites
	// Mirrors maps a registry host to a mirror the blobs are pulled from
	// ("docker.io" → "mirror.local:5000" or "mirror.local:5000/hub"); the
	// node keeps the original names (spec.images.mirrors).
	Mirrors map[string]string
	// Insecure lists registries reached over plain HTTP
	// (spec.images.insecureRegistries, --insecure-registry).
	Insecure []string
	// Jobs bounds the parallel registry requests and downloads (default 4).
	Jobs int
	// Retries is how often a blob download is tried (default 3); the
	// registry client also retries transient HTTP errors itself.
	Retries int
	// Refresh resolves tags at the registry again even when an earlier
	// pull recorded them; a tag that moved is reported in Result.Moved.
	// Without it a recorded tag is used as is and a warm pull needs no
	// network.
	Refresh bool
	// Keychain finds registry credentials; nil means the Docker config and
	// its credential helpers (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means the registry client's
	// default (proxy from the environment, sane timeouts).
	Transport http.RoundTripper
	// Progress receives progress output; nil means none.
	Progress io.Writer
}

// OptionsFromSpec takes the image options of a spec (replace, mirrors,
// insecure registries) for the node's platform, which the board gives with
// spec.images.platform applied (image.Board.NodePlatform).
func OptionsFromSpec(im spec.Images, platform string) Options {
	return Options{
		Platform: platform,
		Replace:  Rewrites(maps.Clone(im.Replace)),
		Mirrors:  maps.Clone(im.Mirrors),
		Insecure: append([]string(nil), im.InsecureRegistries...),
	}
}

func (o Options) platform() (ocispec.Platform, error) {
	if o.Platform == "" {
		return ocispec.Platform{}, fmt.Errorf("no image platform: set spec.images.platform (e.g. linux/arm64)")
	}
	p, err := platforms.Parse(o.Platform)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("image platform %q: %w", o.Platform, err)
	}
	if p.OS != "linux" {
		return ocispec.Platform{}, fmt.Errorf("image platform %q: only linux platforms are supported", o.Platform)
	}
	return platforms.Normalize(p), nil
}

// canonicalHost maps Docker Hub's aliases to docker.io, the host
// normalized references carry.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://"), "/")
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// mirrorFor returns the mirror of a registry host, if any.
func (o Options) mirrorFor(host string) (string, bool) {
	for from, to := range o.Mirrors {
		if canonicalHost(from) == host {
			return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(to, "https://"), "http://"), "/"), true
		}
	}
	return "", false
}

func (o Options) insecure(host string) bool {
	for _, h := range o.Insecure {
		if canonicalHost(h) == canonicalHost(host) {
			return true
		}
	}
	return false
}

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 4
}

func (o Options) retries() int {
	if o.Retries > 0 {
		return o.Retries
	}
	return 3
}
