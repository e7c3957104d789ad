package airgap

import (
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// Location is one place an image reference was found.
type Location struct {
	// Where names the source: "stack/file: Kind namespace/name" for a
	// manifest object, "spec.images.extra[2]", "k0s system images".
	Where string `json:"where"`
	// Field is the field inside the object
	// ("spec.template.spec.containers[activator].image"); empty when the
	// source is not an object.
	Field string `json:"field,omitempty"`
}

func (l Location) String() string {
	if l.Field == "" {
		return l.Where
	}
	return l.Where + ": " + l.Field
}

// Ref is one image reference as written, with every place it was found.
type Ref struct {
	Ref       string     `json:"ref"`
	Locations []Location `json:"locations"`
}

// where lists the locations for error messages.
func (r Ref) where() string {
	parts := make([]string, len(r.Locations))
	for i, l := range r.Locations {
		parts[i] = l.String()
	}
	return strings.Join(parts, "; ")
}

// Warning is a string that looks like an image reference outside every
// field the node pulls from, or an image field the node cannot pull
// offline as written.
type Warning struct {
	Location
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func (w Warning) String() string {
	return fmt.Sprintf("%s: %q: %s", w.Location, w.Value, w.Reason)
}

// imageRef is a parsed, normalized reference: Docker Hub names get their
// docker.io/ (and library/) prefix, as containerd's CRI normalizes them.
type imageRef struct {
	name   string // docker.io/library/nginx
	tag    string // "" when the reference has none
	digest digest.Digest
	named  reference.Named
}

func parseRef(s string) (imageRef, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return imageRef{}, fmt.Errorf("invalid image reference %q: empty or surrounded by spaces", s)
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return imageRef{}, fmt.Errorf("invalid image reference %q: %w", s, err)
	}
	// A first component with a dot or colon is a registry host to
	// the normalizer; one that is not a valid host ("0_0.0/0") is then
	// read as a path with no registry at all, which no node can pull.
	if reference.Domain(n) == "" {
		return imageRef{}, fmt.Errorf("invalid image reference %q: %q is neither a registry host nor a repository on Docker Hub", s, strings.SplitN(s, "/", 2)[0])
	}
	r := imageRef{name: n.Name(), named: n}
	if t, ok := n.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := n.(reference.Digested); ok {
		r.digest = d.Digest()
		if err := r.digest.Validate(); err != nil {
			return imageRef{}, fmt.Errorf("invalid image reference %q: %w", s, err)
		}
		if r.digest.Algorithm() != digest.SHA256 {
			return imageRef{}, fmt.Errorf("image reference %q: only sha256 digests are supported", s)
		}
	}
	return r, nil
}

// host is the registry host of the reference (docker.io for Docker Hub).
func (r imageRef) host() string { return reference.Domain(r.named) }

// path is the repository path without the host.
func (r imageRef) path() string { return reference.Path(r.named) }

// effectiveTag is the tag a tag-less, digest-less reference means.
func (r imageRef) effectiveTag() string {
	if r.tag == "" && r.digest == "" {
		return "latest"
	}
	return r.tag
}

// pinned is the reference written into manifests: name:tag@digest, or
// name@digest when the tag is "latest" or absent. (Kubernetes defaults
// imagePullPolicy to Always for a "latest" tag even with a digest, which
// fails on an offline node.)
func (r imageRef) pinned(d digest.Digest) string {
	if t := r.effectiveTag(); t != "" && t != "latest" {
		return r.name + ":" + t + "@" + d.String()
	}
	return r.name + "@" + d.String()
}

// names are every name the image is stored under on the node: the tag
// (what k0s and tag-only manifests ask for), the digest (what CRI resolves
// a name:tag@digest reference to) and tag@digest.
func (r imageRef) names(d digest.Digest) []string {
	out := []string{r.name + "@" + d.String()}
	if t := r.effectiveTag(); t != "" {
		out = append(out, r.name+":"+t, r.name+":"+t+"@"+d.String())
	}
	sort.Strings(out)
	return out
}

// looksLikeImage reports whether a string found outside the image fields
// is probably an image reference: it parses as one and carries a digest,
// or a tag and a registry host with a repository path.
func looksLikeImage(s string) bool {
	if s == "" || strings.Contains(s, "://") || len(s) > 512 {
		return false
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return false
	}
	if _, ok := n.(reference.Digested); ok {
		return true
	}
	if _, ok := n.(reference.Tagged); !ok {
		return false
	}
	first, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" {
		return false
	}
	return strings.ContainsAny(first, ".:") || first == "localhost"
}

// Rewrites are the spec's images.replace: reference prefixes rewritten to
// others; the node uses the rewritten names.
type Rewrites map[string]string

// Apply rewrites s by the longest matching prefix. A prefix matches the
// reference as written or its normalized form (docker.io/library/...), and
// only at a boundary: the end of the prefix is the end of the reference,
// or a '/', ':' or '@' on either side of it.
func (rw Rewrites) Apply(s string) string {
	if len(rw) == 0 {
		return s
	}
	forms := []string{s}
	if n, err := reference.ParseNormalizedNamed(s); err == nil && n.String() != s {
		forms = append(forms, n.String())
	}
	best, bestTo, bestForm := "", "", ""
	for from, to := range rw {
		for _, f := range forms {
			if prefixAtBoundary(f, from) && len(from) > len(best) {
				best, bestTo, bestForm = from, to, f
			}
		}
	}
	if best == "" {
		return s
	}
	return bestTo + bestForm[len(best):]
}

func prefixAtBoundary(s, prefix string) bool {
	if prefix == "" || !strings.HasPrefix(s, prefix) {
		return false
	}
	if len(s) == len(prefix) || strings.ContainsRune("/:@", rune(prefix[len(prefix)-1])) {
		return true
	}
	return strings.ContainsRune("/:@", rune(s[len(prefix)]))
}
