// Package cluster holds the API clients of a running cluster and the
// checks the end-to-end harnesses (test/e2e on a native k0s, test/e2evm on
// the booted image) make on it: which of a bundle's objects the API server
// has, Knative conditions, pod summaries, events, a request to a revision
// through Knative's activator. Tests only.
package cluster
