// Package ctrimage packs test container images from host files (a static
// binary, or dynamically linked programs with their libraries) as a
// docker-save tar or a v1.Image for a registry push.
package ctrimage
