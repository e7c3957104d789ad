// Package edgestack is what the end-to-end harnesses (test/e2e on a native
// k0s, test/e2evm on the built image in a VM) run: their spec over the
// embedded default, and every container image the stack runs, built from
// Go source here (hack/e2e-images.sh, the test image, the Kourier
// stand-ins of test/e2e/standin), pushed to a test registry and mapped
// onto the upstream references with spec.images.replace.
package edgestack
