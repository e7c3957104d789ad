// Package ctrd runs a containerd daemon for a test (root, state and
// socket in a temporary directory) from the binaries hack/build-containerd.sh
// builds, 1.7 (Version) or 2.x (Version2), each with a config in the
// version it reads, and finds those binaries for k0s.
package ctrd
