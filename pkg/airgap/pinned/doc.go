// Package pinned names a container image by its pinned reference and
// digest: what a build preloads into the payload and records in
// edgeimg.lock.
//
// It is a package of its own, next to pkg/airgap that resolves the images,
// so that the disk image builder (pkg/image) and the lock file can name a
// container image without linking airgap's registry and containerd code.
package pinned
