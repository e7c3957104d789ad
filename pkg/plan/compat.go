package plan

import "github.com/edgeimg/edgeimg/pkg/spec"

// StackKubernetes is the Kubernetes each stack release edgeimg pins
// supports, by spec field and release, for spec.Catalog.Stacks: before
// anything is fitted, the plan's first question is whether the stacks run
// on the node's Kubernetes at all.
//
//   - Knative Serving 1.23: at least 1.34, knative.dev/pkg release-1.23
//     version.DefaultKubernetesMinVersion "v1.34.0", which every Knative
//     controller checks at start (CheckK8sClientMinimumVersionOrDie) and
//     exits on; at most 1.36, the newest Kubernetes minor when 1.23 was
//     cut (July 2026): Knative supports the minors upstream supports at
//     the cut.
//   - Kourier 1.23: Knative's range (net-kourier is released with Knative
//     and its controller runs the same knative.dev/pkg check).
//   - MetalLB v0.15.3: Kubernetes 1.13.0 or later (MetalLB's
//     requirements), no upper bound stated.
func StackKubernetes() map[string]map[string]spec.KubeRange {
	const knative = "knative.dev/pkg release-1.23 requires at least v1.34.0; 1.36 was the newest Kubernetes when Knative 1.23 was cut"
	return map[string]map[string]spec.KubeRange{
		"spec.knative.version": {"1.23.0": {Min: "1.34", Max: "1.36", Source: knative}},
		"spec.kourier.version": {"1.23.0": {Min: "1.34", Max: "1.36", Source: "Kourier follows Knative: " + knative}},
		"spec.metallb.version": {"v0.15.3": {Min: "1.13", Source: "MetalLB's requirements: Kubernetes 1.13.0 or later"}},
	}
}
