// Package regtest runs go-containerregistry's in-process registry on
// loopback for tests and fills it with generated images: real layers
// (tarballs with fixed times), a static Go binary that runs in a
// container, multi-platform indexes, whiteouts.
package regtest
