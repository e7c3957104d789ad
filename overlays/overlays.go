package overlays

import "embed"

// FS holds the overlay trees.
//
//go:embed base ssh
var FS embed.FS
