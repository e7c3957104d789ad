package payload

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// FromTree makes a sealed payload of every regular file under dir, laid
// out as on the node: each at its path relative to dir, with its mode.
// Anything else but directories (a symlink, a device) is refused.
func FromTree(dir string) (*Payload, error) {
	p := &Payload{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: only regular files can be deployed, found %s", path, d.Type())
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		p.AddFile("/"+filepath.ToSlash(rel), info.Mode().Perm(), path)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(p.Files) == 0 {
		return nil, errors.New("no files")
	}
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return p, nil
}
