package boards

import "embed"

// FS holds <board>.yaml for every board.
//
//go:embed *.yaml
var FS embed.FS
