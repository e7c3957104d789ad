// Command edgeimg turns one spec into a bootable edge OS image running k0s
// with Knative Serving, Kourier and MetalLB, fitted to a small node and
// fully airgapped, or pushes the same payload to existing hosts over SSH.
//
// The command files turn flags into options for the library packages under
// pkg/ and print what they return; the pipeline itself (spec, render,
// prepare, airgap, image, deploy) lives there.
package main
