// Package k0sbin gets the k0s binary a node runs: the pinned release for a
// k0s version and architecture, downloaded once into the cache and checked
// against its sha256, or the spec's own spec.k0s.binary.
package k0sbin
