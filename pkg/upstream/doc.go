// Package upstream finds the upstream release manifests (Knative Serving,
// Kourier, MetalLB) for a version: from a directory laid out as
// <project>/<version>/<file>, or from the catalog's pinned URLs through the
// content-addressed download cache. Files of catalog versions are verified
// against the catalog's sha256 wherever they come from.
package upstream
