// Package prepare gathers everything one node gets from a spec, the steps
// 'edgeimg build', 'edgeimg deploy' and 'edgeimg images' share. ResolveTarget
// resolves the node once: its board, the image platform and the k0s
// binary's architecture. PayloadBuilder fills the payload step by step: the
// k0s config and the stacks fitted to the node, the k0s binary, every image
// pulled for the node's platform and pinned by digest in the manifests and
// in k0s.yaml. ImageSource gives that payload to the image builder as build
// phases, with the images preloaded into containerd's root inside the disk
// image; NewDeployPayload gives it in the form deploy uploads, the images as
// one OCI bundle k0s imports. FindImages is the image set of the images
// verbs: list, pull, preload, bundle. WriteManifests writes the node's
// manifests tree into a new directory for 'edgeimg manifests', WriteK0sConfig
// one form of its k0s config for 'edgeimg k0sconfig'.
package prepare
