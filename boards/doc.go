// Package boards holds the board definitions edgeimg builds images for,
// one YAML file per board, embedded into the binary. pkg/image parses them.
package boards
