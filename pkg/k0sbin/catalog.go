package k0sbin

import (
	"slices"

	"github.com/k0sproject/version"
)

// binary is one pinned k0s binary.
type binary struct {
	url    string
	sha256 string // hex
}

// release is one k0s release of the catalog.
type release struct {
	kubernetes, containerd, runc, kine string
	bins                               map[string]binary // by GOARCH
}

// catalog maps a k0s version to its release.
type catalog map[string]release

// k0sReleases are the k0s releases edgeimg knows. Component versions are
// the tag's embedded-bins/Makefile.variables. Each sha256 is the release
// asset's, converted from the SRI base64 of the Nix definitions named
// (k0s-nix is johbo/k0s-nix, main branch, now nix-community/k0s-nix):
//
//   - v1.36.3+k0s.2 amd64: two sources that agree, k0s-nix k0s/1_36.nix
//     (commit 02b6c834, "k0s_1_36: 1.36.3+k0s.1 -> 1.36.3+k0s.2") and
//     eddiezane/dotfiles packages/k0s.nix (commit bcfc517c).
//   - v1.36.3+k0s.2 arm64: ONE source only, k0s-nix k0s/1_36.nix (commit
//     02b6c834); no second public definition was found.
//   - v1.35.7+k0s.0 amd64 and arm64: ONE source only, k0s-nix k0s/1_35.nix
//     (commit e3dc874, "k0s_1_35: 1.35.6+k0s.0 -> 1.35.7+k0s.0"); no second
//     public definition was found.
//   - v1.33.8+k0s.1 amd64 and arm64: nixpkgs
//     (pkgs/applications/networking/cluster/k0s) and k0s-nix k0s/1_33.nix
//     (commit 3de0ae6, "k0s_1_33: 1.33.7+k0s.0 -> 1.33.8+k0s.1").
//
// Every download is checked against its pin (cache.Fetch): a wrong pin
// fails the build, it never lets other bytes through.
func k0sReleases() catalog {
	return catalog{
		"v1.36.3+k0s.2": {
			kubernetes: "1.36.3", containerd: "2.3.3", runc: "1.4.3", kine: "0.16.3",
			bins: bins("v1.36.3+k0s.2",
				"f8b278ba5a9938ced226381484a0f31b6bfa2938703949df235474e03c774acc",
				"5114193cad12fd34169518bb81b5967792e0c3b840dd6d730d0e0252315131ee"),
		},
		"v1.35.7+k0s.0": {
			kubernetes: "1.35.7", containerd: "1.7.34", runc: "1.4.3", kine: "0.14.16",
			bins: bins("v1.35.7+k0s.0",
				"4465b5a614b03e94e67b239e7448b29dd21a6dbb415957bcccf899b4314a98c1",
				"7ad6e9f113c6e37da1406ce9c5cd72e9e2843843afbe4768108c1eb9cc618b66"),
		},
		"v1.33.8+k0s.1": {
			kubernetes: "1.33.8", containerd: "1.7.30", runc: "1.2.8", kine: "0.13.19",
			bins: bins("v1.33.8+k0s.1",
				"a90f8a264e97d788367db4dc0f3f5e2a2e07e4a44925eb444144f4968ce3c4db",
				"54e7a3fb98311e3c1cfa77d1a64cd31f5b36061913370e98da04e64302dbcac9"),
		},
	}
}

// bins are the amd64 and arm64 release assets of k0s version v.
func bins(v, amd64, arm64 string) map[string]binary {
	base := "https://github.com/k0sproject/k0s/releases/download/" + v + "/k0s-" + v + "-"
	return map[string]binary{
		"amd64": {url: base + "amd64", sha256: amd64},
		"arm64": {url: base + "arm64", sha256: arm64},
	}
}

// Release describes one k0s release of the catalog.
type Release struct {
	// K0s is the k0s version (v1.36.3+k0s.2).
	K0s string
	// Kubernetes, Containerd, Runc and Kine are the versions it embeds
	// (1.36.3, 2.3.3, ...).
	Kubernetes, Containerd, Runc, Kine string
	// Arches are the architectures with a pinned binary (GOARCH).
	Arches []string
}

// KubernetesMinor is the Kubernetes line, e.g. "1.36".
func (r Release) KubernetesMinor() string { return minorOf(r.Kubernetes) }

// Releases are the catalog's releases, newest first.
func Releases() []Release { return k0sReleases().releases() }

// Lookup finds the catalog's release of k0s version v.
func Lookup(v string) (Release, bool) {
	r, ok := k0sReleases()[v]
	if !ok {
		return Release{}, false
	}
	return r.info(v), true
}

func (r release) info(v string) Release {
	out := Release{K0s: v, Kubernetes: r.kubernetes, Containerd: r.containerd, Runc: r.runc, Kine: r.kine}
	for a := range r.bins {
		out.Arches = append(out.Arches, a)
	}
	slices.Sort(out.Arches)
	return out
}

func (cat catalog) releases() []Release {
	var out []Release
	for _, v := range cat.versions() {
		out = append(out, cat[v].info(v))
	}
	return out
}

// KnownVersions are the k0s versions with pinned binaries, newest first.
func KnownVersions() []string { return k0sReleases().versions() }

// versions are the catalog's k0s versions, newest first (semantic order,
// so v1.36 comes before v1.35 and v1.33.10 before v1.33.9).
func (cat catalog) versions() []string {
	var v []string
	for k := range cat {
		v = append(v, k)
	}
	slices.SortFunc(v, func(a, b string) int { return -compareK0s(a, b) })
	return v
}

// compareK0s orders two k0s versions; one that does not parse sorts by
// its text, after every one that does.
func compareK0s(a, b string) int {
	va, ea := version.NewVersion(a)
	vb, eb := version.NewVersion(b)
	switch {
	case ea == nil && eb == nil:
		return va.Compare(vb)
	case ea == nil:
		return 1
	case eb == nil:
		return -1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
