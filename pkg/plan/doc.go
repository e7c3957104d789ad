// Package plan fits the stack's CPU and memory requests and limits to one
// small node. Only requests decide scheduling: the plan sums the requests
// of every container that will run on the node (upstream components, k0s's
// own system pods, the user's Knative Services with their queue-proxy
// sidecars), sets aside what the OS and the k0s control plane use outside
// pods, and lowers the adjustable requests per the spec's strategy until
// everything fits with headroom for user pods.
package plan
