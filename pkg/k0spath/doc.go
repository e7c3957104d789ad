// Package k0spath is the one home of where k0s's files live on a node: the
// binary, k0s.yaml, the data directory and what k0s keeps under it, and the
// controller unit. The k0s config, the bundle, the payload and the SSH
// deploy all name these paths through it.
package k0spath
