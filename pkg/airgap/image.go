package airgap

import (
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one resolved image: the reference as found, the name the node
// uses and every blob of the target platform, all in the Store.
type Image struct {
	// Ref is the reference as found, with where it was found.
	Ref Ref `json:"found"`
	// Name is the normalized repository the node uses (after
	// spec.images.replace), e.g. docker.io/envoyproxy/envoy.
	Name string `json:"name"`
	// Tag is the tag of the reference ("latest" for a bare name), empty for
	// a digest-only reference.
	Tag string `json:"tag,omitempty"`
	// Target is what the reference resolves to: an index when the
	// repository publishes one (its digest is kept), else a manifest.
	Target ocispec.Descriptor `json:"target"`
	// Manifest is the target platform's manifest (Target itself when Target
	// is a manifest).
	Manifest ocispec.Descriptor   `json:"manifest"`
	Config   ocispec.Descriptor   `json:"config"`
	Layers   []ocispec.Descriptor `json:"layers"`
	// Platform is the platform the manifest was selected for.
	Platform ocispec.Platform `json:"platform"`
	// Source is the repository the blobs were pulled from (a mirror, or the
	// name itself).
	Source string `json:"source"`
}

func (im Image) ref() imageRef {
	return imageRef{name: im.Name, tag: im.Tag, digest: im.Target.Digest}
}

// Digest is the pinned digest: the index digest when Target is an index.
func (im Image) Digest() digest.Digest { return im.Target.Digest }

// Pinned is the reference manifests carry: name:tag@sha256:..., or
// name@sha256:... when the tag is "latest" or absent.
func (im Image) Pinned() string { return im.ref().pinned(im.Target.Digest) }

// Names are every name the image is stored under on the node, sorted:
// name@digest and, for tagged references, name:tag and name:tag@digest.
func (im Image) Names() []string { return im.ref().names(im.Target.Digest) }

// Blobs lists the image's blobs: the target, the platform manifest when
// the target is an index, the config and the layers.
func (im Image) Blobs() []ocispec.Descriptor {
	out := []ocispec.Descriptor{im.Target}
	if im.Manifest.Digest != im.Target.Digest {
		out = append(out, im.Manifest)
	}
	out = append(out, im.Config)
	return append(out, im.Layers...)
}

// Size is the byte count of the image's blobs.
func (im Image) Size() int64 {
	var n int64
	for _, b := range im.Blobs() {
		n += b.Size
	}
	return n
}

// PlatformString is the platform as os/arch[/variant].
func (im Image) PlatformString() string { return platforms.Format(im.Platform) }
