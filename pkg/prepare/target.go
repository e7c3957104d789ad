package prepare

import (
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/k0sbin"
	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Target is the node a spec describes, resolved once: its board, the
// image platform its images are pulled for and the architecture of its
// k0s binary.
type Target struct {
	Board *image.Board
	// Platform is the image platform (os/arch[/variant]).
	Platform string
	// Arch is the node's architecture for the k0s binary (amd64, arm64).
	Arch string
}

// ResolveTarget looks up the spec's board and takes the node's platform
// and architecture from it (image.Board.NodePlatform); platform, when set
// (the images verbs' --platform), wins over spec.images.platform, which
// wins over the board's.
func ResolveTarget(d *spec.Document, platform string) (Target, error) {
	b, err := image.LookupBoard(d.Spec.Board)
	if err != nil {
		return Target{}, err
	}
	if platform == "" {
		platform = d.Spec.Images.Platform
	}
	t := Target{Board: b}
	t.Platform, t.Arch = b.NodePlatform(platform)
	return t, nil
}

// Catalog is what this edgeimg can build, for spec.Document.ValidateCatalog:
// its boards, the k0s releases it pins with their Kubernetes, and the
// Kubernetes each stack release supports.
func Catalog() (spec.Catalog, error) {
	bs, err := image.Boards()
	if err != nil {
		return spec.Catalog{}, err
	}
	c := spec.Catalog{Unsupported: map[string]string{}, K0sVersions: k0sbin.KnownVersions(),
		Kubernetes: map[string]string{}, Stacks: plan.StackKubernetes()}
	for _, r := range k0sbin.Releases() {
		c.Kubernetes[r.K0s] = r.Kubernetes
	}
	for _, b := range bs {
		if b.Unsupported != "" {
			c.Unsupported[b.Name] = b.Unsupported
		} else {
			c.Boards = append(c.Boards, b.Name)
		}
	}
	return c, nil
}
