// Command standin runs in place of Kourier's two pods in the end-to-end test,
// because neither can be built here: net-kourier's module is not served by
// the Go module proxy, and Envoy has no source or binary available at all.
// It is NOT Kourier: it routes nothing. It only lets the rendered Kourier
// Deployments be scheduled and become Ready within their fitted requests,
// and lets Knative Routes become Ready, so the rest of the stack (Knative
// Serving, MetalLB, k0s) is exercised for real.
//
// The image's entrypoint picks the role by the name it is run as:
//
//   - envoy (the gateway Deployment runs /usr/local/bin/envoy): serves 200 on
//     /ready on the ports Kourier's gateway listens on (the readiness and
//     liveness probes ask :8081/ready) and 503 on every other path; the Envoy
//     arguments are logged and ignored.
//   - anything else (the controller image's /ko-app/kourier): serves the gRPC
//     health service on :18000 (the Deployment's gRPC probes) and, every two
//     seconds, marks each KIngress of the Kourier ingress class Ready with
//     the kourier / kourier-internal Services as its load balancers, the
//     status net-kourier writes once Envoy serves the routes. Traffic to a
//     Revision then has to go through the activator directly.
package main
