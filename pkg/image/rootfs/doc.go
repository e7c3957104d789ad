// Package rootfs composes the root file system of an image as one tar
// stream: the Debian base tarball, filtered and overlaid with edgeimg's
// files, the payload and whole directory trees (the preloaded containerd
// root), without extracting anything. mke2fs -d reads the result.
//
// The output is deterministic: base entries keep their order and headers,
// added entries follow sorted by path with their times set to the given
// epoch, so the same inputs give the same bytes.
//
// Tree (tree.go) is what goes on top of the base, Compose (compose.go)
// writes the stream, ReadIndex (index.go) reads what the build needs from
// a tarball.
package rootfs
