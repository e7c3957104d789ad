// Package k0sbin knows the k0s releases edgeimg pins (the catalog): for each
// k0s version, its binaries by architecture with their sha256, the
// Kubernetes, containerd, runc and kine it embeds, and the end of life of
// its Kubernetes line (Support, which `edgeimg versions`, plan and build
// use to warn). It gets the binary a node runs: the pinned release
// downloaded once into the cache and checked against its sha256, or the
// spec's own spec.k0s.binary.
package k0sbin
