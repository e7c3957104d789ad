package image

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
)

// unitDirs are searched for unit files, first match wins (as systemd).
var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// installSection is the [Install] section of a unit file.
type installSection struct {
	WantedBy, RequiredBy, Alias, Also []string
}

func parseInstall(data []byte) installSection {
	var in installSection
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Install" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vals := strings.Fields(v)
		switch strings.TrimSpace(k) {
		case "WantedBy":
			in.WantedBy = append(in.WantedBy, vals...)
		case "RequiredBy":
			in.RequiredBy = append(in.RequiredBy, vals...)
		case "Alias":
			in.Alias = append(in.Alias, vals...)
		case "Also":
			in.Also = append(in.Also, vals...)
		}
	}
	return in
}

// unitLookup finds unit files in the tree being added and in the base.
type unitLookup struct {
	tree *rootfs.Tree
	base *rootfs.Index
}

func (u unitLookup) find(name string) (string, []byte, bool) {
	for _, d := range unitDirs {
		p := path.Join(d, name)
		if e, ok := u.tree.Get(p); ok && e.Kind == rootfs.File {
			if e.Source == "" {
				return p, e.Data, true
			}
			if data, err := os.ReadFile(e.Source); err == nil {
				return p, data, true
			}
		}
		if u.base != nil {
			if rp, ok := u.base.Resolve(p); ok {
				if data, ok := u.base.Files[rp]; ok {
					return p, data, true
				}
			}
		}
	}
	return "", nil, false
}

// enableUnits adds the symlinks 'systemctl enable' would create for each
// unit (and the units its Also= names) to the tree.
func enableUnits(tree *rootfs.Tree, base *rootfs.Index, names []string) error {
	u := unitLookup{tree: tree, base: base}
	done := map[string]bool{}
	var enable func(name string) error
	enable = func(name string) error {
		if done[name] {
			return nil
		}
		done[name] = true
		p, data, ok := u.find(name)
		if !ok {
			return fmt.Errorf("unit %s to enable is not in the image (looked in %s)", name, strings.Join(unitDirs, ", "))
		}
		in := parseInstall(data)
		if len(in.WantedBy)+len(in.RequiredBy)+len(in.Alias)+len(in.Also) == 0 {
			return fmt.Errorf("unit %s (%s) has no [Install] section: it cannot be enabled", name, p)
		}
		for _, t := range in.WantedBy {
			if err := tree.AddSymlink(path.Join("/etc/systemd/system", t+".wants", name), p); err != nil {
				return err
			}
		}
		for _, t := range in.RequiredBy {
			if err := tree.AddSymlink(path.Join("/etc/systemd/system", t+".requires", name), p); err != nil {
				return err
			}
		}
		for _, a := range in.Alias {
			if err := tree.AddSymlink(path.Join("/etc/systemd/system", a), p); err != nil {
				return err
			}
		}
		for _, a := range in.Also {
			if err := enable(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := enable(n); err != nil {
			return err
		}
	}
	return nil
}
