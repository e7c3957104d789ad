// Package image turns a spec and a node payload into bootable disk images:
// a Debian base (mmdebstrap, cached), edgeimg's overlays and first-boot
// units, the payload (k0s, its config and unit, the manifest stacks, the
// preloaded containerd root), a FAT boot partition and an ext4 root laid
// out in a GPT or MBR disk without loop devices or mounts, converted into
// every format asked for.
//
// A build is a list of phases (pkg/phase): one status line each, details
// in a debug log, and the outputs written under temporary names in the
// output directory and renamed into place only when everything succeeded.
//
//	b, err := image.NewBuilder(image.Options{Spec: doc, Payload: p, EnableUnits: []string{"k0scontroller.service"}, OutDir: "out"})
//	res, err := b.Build(ctx)
package image
