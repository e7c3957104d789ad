package spec

import (
	"slices"
	"strconv"
	"strings"
)

// Catalog is what edgeimg can build, known to the packages that build it
// (the image package's boards, the k0s releases with pinned binaries and
// system images, the Kubernetes each stack release supports);
// ValidateCatalog checks a spec against it.
type Catalog struct {
	Boards      []string          // boards that can be built
	Unsupported map[string]string // known boards that cannot, and why
	K0sVersions []string          // k0s releases edgeimg knows
	// Kubernetes maps a k0s release to the Kubernetes version it embeds
	// (v1.36.3+k0s.2 → 1.36.3).
	Kubernetes map[string]string
	// Stacks maps a stack's version field (spec.knative.version,
	// spec.kourier.version, spec.metallb.version) and release to the
	// Kubernetes it supports. A release missing here is not checked.
	Stacks map[string]map[string]KubeRange
}

// KubeRange is the Kubernetes minors a stack release supports, Min to Max
// ("1.34", "1.36"); an empty Max means its project states no upper bound.
// Source says where the range comes from.
type KubeRange struct {
	Min, Max string
	Source   string
}

func (r KubeRange) String() string {
	if r.Max == "" {
		return r.Min + " or later"
	}
	return r.Min + " to " + r.Max
}

// ValidateCatalog refuses a board or k0s version the catalog does not
// know, naming the field and the known values (an unknown k0s version
// would silently get the system images of the version edgeimg's k0s
// packages describe), and a Knative, Kourier or MetalLB release that does
// not support the Kubernetes the k0s release runs, naming both fields and
// the release's range.
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
	if kube, ok := c.Kubernetes[s.K0s.Version]; ok {
		for _, st := range []struct{ field, version string }{
			{"spec.knative.version", s.Knative.Version},
			{"spec.kourier.version", s.Kourier.Version},
			{"spec.metallb.version", s.MetalLB.Version},
		} {
			r, ok := c.Stacks[st.field][st.version]
			if ok && st.field != "spec.metallb.version" && s.Knative.KubernetesMinVersion != "" {
				// The user lowered the minimum the controllers check.
				r.Min = s.Knative.KubernetesMinVersion
			}
			if !ok || r.supports(kube) {
				continue
			}
			v.add(st.field, "%s supports Kubernetes %s (%s), but spec.k0s.version %s runs Kubernetes %s: choose a k0s release on Kubernetes %s ('edgeimg versions') or a release of %s that supports %s",
				st.version, r, r.Source, s.K0s.Version, kube, r, strings.TrimSuffix(strings.TrimPrefix(st.field, "spec."), ".version"), minor(kube))
		}
	}
	return v.err()
}

// supports reports whether Kubernetes version kube (1.36.3) lies in r.
func (r KubeRange) supports(kube string) bool {
	k, ok := minorNumber(kube)
	if !ok {
		return false
	}
	if lo, ok := minorNumber(r.Min); ok && k < lo {
		return false
	}
	if hi, ok := minorNumber(r.Max); ok && k > hi {
		return false
	}
	return true
}

// minor is "1.36" for "1.36.3".
func minor(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return v
	}
	return p[0] + "." + p[1]
}

// minorNumber is 36 for "1.36" or "1.36.3" (Kubernetes 1.x).
func minorNumber(v string) (int, bool) {
	p := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(p) < 2 || p[0] != "1" {
		return 0, false
	}
	n, err := strconv.Atoi(p[1])
	return n, err == nil
}
