package spec

import (
	"slices"
	"strings"
)

// Catalog is what edgeimg can build, known to the packages that build it
// (the image package's boards, the k0s releases with pinned binaries and
// system images); ValidateCatalog checks a spec against it.
type Catalog struct {
	Boards      []string          // boards that can be built
	Unsupported map[string]string // known boards that cannot, and why
	K0sVersions []string          // k0s releases edgeimg knows
}

// ValidateCatalog refuses a board or k0s version the catalog does not
// know, naming the field and the known values: an unknown k0s version
// would silently get the system images of the version edgeimg's k0s
// packages describe.
func (d *Document) ValidateCatalog(c Catalog) error {
	v := &validator{}
	s := &d.Spec
	if why, ok := c.Unsupported[s.Board]; ok {
		v.add("spec.board", "%q is not supported: %s", s.Board, strings.TrimSpace(why))
	} else if s.Board != "" && !slices.Contains(c.Boards, s.Board) {
		v.add("spec.board", "%q: unknown board: expected one of %s (see 'edgeimg boards')", s.Board, strings.Join(c.Boards, ", "))
	}
	if s.K0s.Version != "" && !slices.Contains(c.K0sVersions, s.K0s.Version) {
		v.add("spec.k0s.version", "%q: unknown k0s release: expected one of %s (the releases whose binaries and system images edgeimg pins)", s.K0s.Version, strings.Join(c.K0sVersions, ", "))
	}
	return v.err()
}
