// Package k0s runs `k0s controller --single` for a test, as root, in a
// network namespace with a veth to the test, a private mount namespace and
// a cgroup of its own, from binaries built by hack/build-bins.sh and
// hack/build-containerd.sh for the k0s line K0S_LINE names (Line: 1.33 by
// default, 1.36). Its containerd drop-in is written in the config version
// the line's containerd reads (2 for 1.7, 3 for 2.x).
package k0s
