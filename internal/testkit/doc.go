// Package testkit gives edgeimg's tests the real things they exercise. This
// package holds what every part of the harness shares: the rule for missing
// prerequisites, the module root and fixtures, the binaries built from the
// Go module proxy (kube-apiserver, kine, k0s and the Kubernetes components),
// a free port and the tail of a log. Its subpackages each run one thing:
//
//	process     child processes with their output in a log file
//	cgroup      one cgroup holding every process of a test cluster
//	ctrimage    test container images packed from host files
//	ctrd        a containerd daemon
//	kube        a kube-apiserver on loopback and server-side dry-runs
//	k0s         a k0s single-node cluster in its own network namespace
//	sshd        an OpenSSH server on loopback
//	imagebuild  the cache, tools tree and mirror disk-image tests share
//	qemu        a QEMU (TCG) VM booting a built disk image
//	regtest     an in-process OCI registry and generated test images
//
// The harness sits above pkg/: it imports the product (the cache root,
// the tools tree), and only tests import it. The production helpers next to
// it in internal/ (humanize, tailbuf, vulngate, fixtures) import nothing of
// pkg/.
//
// Heavy prerequisites follow one rule, Require: when one is missing a test is
// skipped with the reason, unless EDGEIMG_CI is set, in which case it fails.
package testkit
