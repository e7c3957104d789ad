// Package ctrd runs a containerd daemon for a test (root, state and
// socket in a temporary directory) from the binaries hack/build-containerd.sh
// builds, and finds those binaries for k0s.
package ctrd
