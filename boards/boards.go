// Package boards holds the board definitions edgeimg builds images for,
// one YAML file per board, embedded into the binary. pkg/image parses them.
package boards

import "embed"

// FS holds <board>.yaml for every board.
//
//go:embed *.yaml
var FS embed.FS
