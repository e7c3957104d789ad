// Package bundle turns upstream Knative Serving, Kourier and MetalLB release
// manifests into k0s manifest-deployer stacks fitted to the node: resources
// per the plan, single replicas, airgap settings, the MetalLB pool, the
// user's Knative Services, and the staged objects that a first-boot unit
// promotes once the admission webhooks that guard them are running.
package bundle
