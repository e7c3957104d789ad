// Package airgap makes every image the node needs available offline: it
// finds the image references in the rendered stacks (Find), resolves each
// to a digest and fetches the node platform's blobs into the shared
// content-addressed cache (Pull, Store), pins the manifests to those
// digests (Pin), and writes the images either straight into containerd's
// own store (Store.Preload) or as one OCI-layout tar for k0s's
// <data-dir>/images (Store.WriteBundle).
//
// # Why a preloaded store
//
// k0s imports every tar in <data-dir>/images on every start, before the
// kubelet, re-reading every blob. The preloaded store is containerd's own
// root (content blobs plus its bolt metadata database, namespace k8s.io)
// written at build time with containerd 1.7's packages (k0s 1.33 and 1.35
// embed 1.7), so the node's first start imports nothing. One writer serves
// both containerd lines: 2.x (k0s 1.36 embeds 2.3.3) reads the store as
// written, migrating only its metadata schema at the first open
// (TestCRISeesPreloadedImages and TestPreloadedStoreRunsOffline run on
// both).
// BenchmarkFirstStart measures, with a real containerd, the start until
// every image is listed on the preloaded store, importing the bundle into
// an empty root (k0s's first boot) and re-importing it into a root that
// has the images (every later k0s start); the README has the figures.
//
// # Layers are not unpacked at build time
//
// Preload writes content and metadata only; CRI unpacks an image into
// overlayfs snapshots when it first creates a container from it, and the
// snapshots persist across restarts, so the cost is paid once per node,
// not per boot. Unpacking the same stack at build time (BenchmarkUnpack
// measures its time and snapshot bytes; the README has the figures) would
// put the snapshots on the SD card next to the blobs, more than doubling
// the bytes, to save only each component's first unpack. It would also
// need root on the build host (mknod of 0/0 character-device whiteouts, chown,
// trusted.overlay.* xattrs, overlay mounts for containerd's own applier),
// a root-filesystem builder that keeps device nodes and trusted xattrs,
// and the same normalization as the metadata database (snapshot IDs,
// times) to stay reproducible; the lazy path needs no privileges at build
// time: Preload writes plain files.
//
// # Reproducibility
//
// The same images give the same bytes: blobs are content-addressed,
// metadata times are set to $SOURCE_DATE_EPOCH (else the epoch), the bolt
// database is rewritten in an order that depends only on its content, and
// the bundle's tar entries are sorted with fixed owners, modes and times.
package airgap
