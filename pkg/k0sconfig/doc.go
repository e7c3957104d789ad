// Package k0sconfig turns an edgeimg spec into what k0s needs on the node:
// k0s.yaml (built with k0s's own v1beta1.ClusterConfig and checked with its
// Validate), the flags and systemd unit of `k0s install controller --single`,
// the k0s system images for the airgap step, the pods k0s itself runs (for
// the plan) and extra files such as the bridge CNI configuration.
//
// The k0s.yaml never carries the build machine's addresses: spec.api.address,
// spec.api.sans and the etcd peer address are left out, so k0s fills them
// from the node it starts on.
package k0sconfig
