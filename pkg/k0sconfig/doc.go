// Package k0sconfig turns an edgeimg spec into what k0s needs on the node:
// k0s.yaml (built with k0s's own v1beta1.ClusterConfig and checked with its
// Validate), the flags and systemd unit of `k0s install controller --single`,
// the k0s system images for the airgap step, the pods k0s itself runs (for
// the plan) and extra files such as the bridge CNI configuration.
//
// The k0s.yaml never carries the build machine's addresses: spec.api.address,
// spec.api.sans and the etcd peer address are left out, so k0s fills them
// from the node it starts on.
//
// # One config API for every k0s line
//
// The ClusterConfig types are k0s's v1beta1 module at the 1.33 line
// (github.com/k0sproject/k0s v1.33.x, with k8s.io/kubelet 0.33): the k0s
// module is not served for 1.35 or 1.36, so k0s.yaml for a v1.35.7+k0s.0 or
// v1.36.3+k0s.2 node is built and validated with the 1.33 types. What that
// means:
//
//   - A ClusterConfig field added after 1.33 cannot be expressed: a
//     spec.k0s.config that sets one is refused, naming the field
//     (spec.k0s.config.spec.<field>: unknown k0s ClusterConfig field), as
//     any unknown field is. Fields 1.33 has keep their meaning on 1.35 and
//     1.36, which still read the v1beta1 API.
//   - Worker profile values are KubeletConfiguration documents k0s passes
//     to the node's own kubelet: they are not limited to 1.33's fields and
//     each line's kubelet validates them (`k0s config validate` on the
//     node). failCgroupV1 is one (1.33's KubeletConfiguration has it);
//     edgeimg never sets it, so upstream's default stands: from Kubernetes
//     1.35 the kubelet refuses cgroup v1 hosts unless the worker profile
//     "default" sets failCgroupV1: false (FailCgroupV1; deploy's preflight
//     refuses such a host before changing it, unless the spec opts out).
//   - The system images are the release's own, not the 1.33 module's
//     defaults: k0s.yaml names them for each release edgeimg pins
//     (releaseImages; v1.36.3+k0s.2: kube-proxy v1.36.3-1, coredns
//     1.14.6-k0s.0, pause 3.10.2-0, kube-router
//     v2.10.0-iptables1.8.13-k0s.1, ...). Images a later release added
//     (1.36's Traefik) have no field in the 1.33 API.
package k0sconfig
