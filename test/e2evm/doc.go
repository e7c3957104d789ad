// Package e2evm is edgeimg's device test: the image a user flashes, built
// through the library path `edgeimg build` runs (pkg/prepare's
// ImageSource, pkg/image's Builder) from the end-to-end spec
// (internal/testkit/edgestack) with the real k0s built from source, given
// a per-device file with `edgeimg device-config`, booted under QEMU (TCG,
// 1 vCPU, the spec's 1536 MiB, user-net restrict=on: no route out) and
// checked over SSH and the forwarded API port.
//
// The test carries the build tag e2evm (`make e2e-vm`, or
// `go test -tags e2evm ./test/e2evm`); it needs root, qemu-system-x86_64
// with OVMF, the cached builds of make e2ebins, the upstream fixtures and
// a Debian mirror (or a cached base). What stands in is what test/e2e says
// (its package doc): Kourier's two pods are stand-ins, the images are
// built from source and served to the build as mirrors of their real
// references. Besides, because hack/build-bins.sh builds k0s with
// noembedbins, the harness adds to the image's payload what a release
// k0s carries inside its binary: the Kubernetes components, kine,
// containerd and its shim in /var/lib/k0s/bin, and Debian's runc.
package e2evm
