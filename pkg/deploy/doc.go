// Package deploy pushes an edgeimg payload to existing Linux hosts over
// SSH (github.com/k0sproject/rig) and runs it there as a single-node k0s:
// the same payload the image step writes into a root file system.
//
// Each host goes through phases, logged as they run: connect and gather
// facts, preflight, upload (checksum-verified on the host, resumable,
// skipped when the host already has the file), install k0s, start it and
// wait for the node and the stacks. Hosts run in parallel up to a bound;
// one failing host does not stop the others.
package deploy
