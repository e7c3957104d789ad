// Package debian builds the Debian root file system of an image with
// mmdebstrap and keeps it in the cache as a tarball keyed by everything
// that decides its content (suite, architecture, components, package set,
// mirror, SOURCE_DATE_EPOCH), so a rebuild with a warm cache does not run
// mmdebstrap. Downloaded .debs are kept too, so a changed package set
// downloads only what is new.
package debian
