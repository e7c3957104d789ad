// Package e2e is edgeimg's end-to-end test: a real k0s single node (run by
// internal/testkit/k0s) that runs what edgeimg renders and preloads, with
// container images built from source here and served by an in-process
// registry. K0S_LINE picks the k0s line (k0s.Line): 1.33, the default, is
// built from the Go module proxy alone; 1.36 runs k0s v1.36.3+k0s.2 (a
// supplied binary, K0S_BIN) with Kubernetes 1.36.3, kine 0.16.3 and
// containerd 2.3.3 from the proxy. On a cgroup v1 host, a line whose kubelet
// refuses cgroup v1 (1.35 on) gets failCgroupV1: false in the test's own
// spec (lineSpec): a workaround for this host, not the product's default.
//
// The tests carry the build tag e2e (`make e2e`, or
// `go test -tags e2e ./test/e2e`); they need root, the cached builds of
// hack/build-bins.sh, hack/build-containerd.sh and hack/e2e-images.sh, and
// the upstream fixtures. What is real and what stands in:
//
//   - Real, built from source: k0s and every component it runs, containerd,
//     Knative Serving's activator, autoscaler, controller, webhook and
//     queue-proxy (knative.dev/serving at the newest commit the module proxy
//     can build, between Knative 1.20 and 1.21, running the 1.23 manifests),
//     MetalLB's controller and speaker (v0.15.2 for the v0.15.3 manifests),
//     CoreDNS 1.12.4, metrics-server v0.8.0 (k0s 1.33 ships v0.7.2),
//     kube-proxy of the line's Kubernetes, and the hello app and pause from
//     internal/testkit/testdata/testimage.
//   - Stand-ins: Kourier's controller and gateway pods run test/e2e/standin,
//     because net-kourier is not served by the module proxy and Envoy is
//     not available at all. The stand-ins pass the pods' probes and mark
//     KIngresses Ready; they route nothing, so requests reach the hello
//     Revision through Knative's activator directly. The Knative
//     controller is built against hack/e2e-images/knative-caching, a minimal
//     stand-in for the knative.dev/caching module, which is not served
//     either.
//   - Adapted for the sandbox, through the spec where the spec can say it:
//     k0s's network is spec.k0s.network=bridge (kube-router is not
//     served), kube-proxy gets --conntrack-max-per-core=0 through
//     spec.k0s.config, the API address and containerd's
//     restrict_oom_score_adj come from the harness, and the kubelet gets
//     --kube-reserved for the difference between this machine and the
//     plan's node, so the node's allocatable is the plan's.
package e2e
