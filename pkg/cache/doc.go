// Package cache is edgeimg's content-addressed download cache: every file
// fetched from the network is stored under its sha256 and verified on the
// way in, so a second build needs no network.
//
// Layout under the root (default $EDGEIMG_CACHE, else the user cache dir
// plus "edgeimg"):
//
//	blobs/sha256/<hex>     downloaded files, by content
//	<kind>/<key>/...       derived artifacts (Debian bases, image stores),
//	                       keyed by the caller (a hash of their inputs)
package cache
