// Package disk assembles a disk image without loop devices or mounts: a
// FAT boot partition made with go-diskfs, an ext4 root made by mke2fs from
// a tarball, a GPT (go-diskfs) or MBR partition table with identifiers
// derived from a seed, and the partition images copied into place at
// their offsets keeping holes, so the raw image stays sparse.
package disk
