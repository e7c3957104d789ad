// Package render runs the rendering steps every command shares, in the
// one order that works: the k0s config (for the system pods k0s will run),
// the bundle fitted to the node around those pods, then the final k0s
// config with the plan's kubelet reservations. Its Payload is what the image
// and deploy steps put on a node, apart from the k0s binary and the images.
package render
