// Package imagebuild is what disk-image tests (pkg/image and cmd/edgeimg)
// share: the cache the CLI uses, so a Debian base is built once, the tools
// tree built into it, and the Debian mirror they build from.
package imagebuild
