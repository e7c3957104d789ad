package pinned

// Image is a container image preloaded into the payload.
type Image struct {
	// Ref is the reference the manifests carry (name:tag@sha256:...).
	Ref string `yaml:"ref" json:"ref"`
	// Digest is the digest the reference is pinned to.
	Digest string `yaml:"digest" json:"digest"`
}
