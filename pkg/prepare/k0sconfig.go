package prepare

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
)

// K0sConfigForm is one form of a node's k0s config that WriteK0sConfig
// writes.
type K0sConfigForm int

const (
	// K0sYAML is k0s.yaml.
	K0sYAML K0sConfigForm = iota
	// K0sInstallFlags is the arguments of 'k0s install controller' on one
	// line, quoted for a POSIX shell.
	K0sInstallFlags
	// K0sUnit is the systemd unit 'k0s install controller' writes.
	K0sUnit
	// K0sSystemImages is k0s's system images, one per line.
	K0sSystemImages
)

// K0sConfigOptions say which form of the k0s config WriteK0sConfig
// writes, and where.
type K0sConfigOptions struct {
	Form K0sConfigForm
	// K0sPath is the absolute path of the k0s binary on the node (K0sUnit).
	K0sPath string
	// File is written atomically instead of the writer; "" or "-" means
	// the writer.
	File string
	// Force replaces an existing File.
	Force bool
}

// WriteK0sConfig writes cfg in the form o.Form to w, or to o.File:
// atomically, refusing to replace an existing file unless o.Force.
func WriteK0sConfig(w io.Writer, cfg *k0sconfig.Config, o K0sConfigOptions) error {
	var out []byte
	switch o.Form {
	case K0sInstallFlags:
		out = []byte(shellJoin(cfg.InstallFlags()) + "\n")
	case K0sUnit:
		if !strings.HasPrefix(o.K0sPath, "/") {
			return fmt.Errorf("k0s path %q: expected an absolute path on the node", o.K0sPath)
		}
		out = cfg.Unit(o.K0sPath)
	case K0sSystemImages:
		out = []byte(strings.Join(cfg.SystemImages(), "\n") + "\n")
	default:
		var err error
		if out, err = cfg.YAML(); err != nil {
			return err
		}
	}
	if o.File == "" || o.File == "-" {
		_, err := w.Write(out)
		return err
	}
	if err := fsutil.CheckFileOutput(o.File, o.Force); err != nil {
		return err
	}
	return fsutil.WriteFile(o.File, out, 0o644)
}

// shellJoin quotes arguments that need it for a POSIX shell.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:+@%") == "" {
			quoted[i] = a
			continue
		}
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}
