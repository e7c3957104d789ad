// Package format converts a raw disk image into the formats users flash or
// boot: a map from format name to a writer, as LinuxKit's output formats.
// Every format's converter reads the raw image and writes one file; the
// registry also says which formats get the raw image's block map next to
// them and which architectures a format is built for. Compression uses
// every core.
package format
