// Package spec holds the edgeimg spec (edgeimg.yaml): its types, the embedded
// default, strict decoding, defaulting, validation and flag overrides.
//
// Every later step (k0sconfig, bundle, airgap, image, deploy) reads a *Spec
// that has been through Load (or Default), ApplyDefaults and Validate.
package spec
