// Package payload describes what goes onto a node, file by file, with its
// destination path: the k0s binary, k0s.yaml, the controller unit, the
// manifest stacks, the staged-stack promoter, and the images (a preloaded
// containerd store for disk images, an OCI bundle for SSH deploys). The
// image step writes a payload into a root file system; the deploy step
// uploads the same payload over SSH.
package payload
