// Package tools provides the image tools (mke2fs, e2fsck, qemu-img, zstd,
// xz, ...) from a Debian tree built for the build host with mmdebstrap and
// kept in the cache, so the bytes of an image do not depend on the host's
// tool versions (Debian 12's e2fsprogs 1.47.0 cannot read a tarball and
// ignores SOURCE_DATE_EPOCH).
//
// The tools run without chroot: each binary is started through the tree's
// own dynamic loader with the tree's library directories, so they need no
// mounts and see the host's file system paths unchanged.
package tools
