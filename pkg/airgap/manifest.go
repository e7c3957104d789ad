package airgap

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's media types, next to the OCI ones.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
)

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerList
}

func isManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

// manifestDoc holds the fields of an index or a manifest.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

// parseManifest parses an index or manifest; mt is the media type the
// registry or a descriptor gave, "" when unknown (the document's own
// mediaType field or its shape decide then).
func parseManifest(data []byte, mt string) (manifestDoc, string, error) {
	var m manifestDoc
	if err := json.Unmarshal(data, &m); err != nil {
		return m, "", fmt.Errorf("parse manifest: %w", err)
	}
	if mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		switch {
		case m.Manifests != nil:
			mt = ocispec.MediaTypeImageIndex
		case m.Config != nil:
			mt = ocispec.MediaTypeImageManifest
		}
	}
	switch {
	case m.SchemaVersion == 1:
		return m, mt, fmt.Errorf("docker schema 1 manifest: not supported (push the image again with a current client)")
	case isIndex(mt):
	case isManifest(mt):
		if m.Config == nil {
			return m, mt, fmt.Errorf("manifest %s has no config", mt)
		}
	default:
		return m, mt, fmt.Errorf("media type %q is not an image manifest or index", mt)
	}
	return m, mt, nil
}

// candidates are the entries of an index the platform can use, best
// first, as containerd's images.Manifest orders them: entries without a
// platform are kept (their config decides).
func candidates(idx manifestDoc, m platforms.MatchComparer) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.Platform == nil || m.Match(*d.Platform) {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Platform == nil {
			return false
		}
		if out[j].Platform == nil {
			return true
		}
		return m.Less(*out[i].Platform, *out[j].Platform)
	})
	return out
}

// imageConfig holds the platform fields of an image config.
type imageConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	RootFS       struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func availablePlatforms(idx manifestDoc) []string {
	var out []string
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			out = append(out, platforms.Format(*d.Platform))
		}
	}
	return out
}
