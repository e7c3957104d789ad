// Package kube runs a kube-apiserver with kine (SQLite) on loopback for
// server-side dry-runs of the manifests edgeimg ships, and checks objects
// against it the way k0s's applier applies them.
package kube
