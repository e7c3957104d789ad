// Package k0s runs `k0s controller --single` for a test, as root, in a
// network namespace with a veth to the test, a private mount namespace and
// a cgroup of its own, from binaries built by hack/build-bins.sh and
// hack/build-containerd.sh.
package k0s
