package deploy

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// resetPhase undoes deploy: stops k0s and runs k0s reset (which removes
// its data dir and service), disables the payload's units and removes the
// files deploy uploaded and the directories it created.
type resetPhase struct{ s *hostState }

func (p *resetPhase) Title() string { return "Reset" }

// files lists what deploy put on the host: the record's files and, when a
// payload is given, its files.
func (p *resetPhase) files() []string {
	s := p.s
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if rec := s.facts.Record; rec != nil {
		for _, f := range rec.Files {
			add(f.Path)
		}
	}
	if s.opts.Payload != nil {
		for _, f := range s.opts.Payload.Files {
			add(f.Path)
		}
	}
	sort.Strings(out)
	return out
}

func (p *resetPhase) units() []string {
	s := p.s
	var units []string
	if s.facts.Record != nil {
		units = append(units, s.facts.Record.Units...)
	}
	for _, u := range s.opts.Units {
		if !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	return units
}

func (p *resetPhase) createdDirs() []string {
	if p.s.facts.Record == nil {
		return nil
	}
	dirs := append([]string{}, p.s.facts.Record.CreatedDirs...)
	// Deepest first, so parents are empty by the time they are removed.
	sort.Slice(dirs, func(i, j int) bool { return dirs[i] > dirs[j] })
	return dirs
}

func (p *resetPhase) k0sInstalled() bool {
	k := p.s.facts.K0s
	return p.s.opts.Root == "" && (k.Service != "" || k.Running)
}

func (p *resetPhase) DryRun(_ context.Context, w io.Writer) error {
	s := p.s
	if p.k0sInstalled() {
		fmt.Fprintf(w, "  would run: k0s stop; k0s reset --data-dir=%s (removes the data dir: cluster state, images, manifests)\n", s.opts.DataDir)
	} else {
		fmt.Fprintln(w, "  k0s is not installed as a service: no k0s reset")
	}
	for _, u := range p.units() {
		fmt.Fprintf(w, "  would disable and stop %s\n", u)
	}
	for _, f := range p.files() {
		fmt.Fprintf(w, "  would remove %s\n", f)
	}
	if rec := s.facts.Record; rec != nil {
		for _, l := range rec.Links {
			fmt.Fprintf(w, "  would remove the link %s\n", l)
		}
	}
	for _, d := range p.createdDirs() {
		fmt.Fprintf(w, "  would remove %s if empty\n", d)
	}
	if s.facts.Record != nil {
		fmt.Fprintf(w, "  would remove %s\n", RecordPath)
	}
	return nil
}

const removeScript = `while IFS= read -r p; do
  rm -f -- "$p" "$p.edgeimg-part" || exit 1
done
`

func (p *resetPhase) Run(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	if p.k0sInstalled() {
		if s.facts.K0s.Running {
			if _, err := r.k0s(ctx, o, "stop"); err != nil {
				return err
			}
			s.log.printf("  k0s stopped")
		}
		if _, err := r.k0s(ctx, o, "reset", "--data-dir="+o.DataDir); err != nil {
			return err
		}
		s.log.printf("  k0s reset done")
	} else {
		s.log.printf("  k0s is not installed as a service: no k0s reset")
	}
	if units := p.units(); len(units) > 0 && o.Root == "" && s.facts.Init == "systemd" {
		for _, u := range units {
			if _, err := r.run(ctx, `systemctl disable --now "$1" || [ ! -e "/etc/systemd/system/$1" ]`, []string{u}, nil); err != nil {
				return fmt.Errorf("disable %s: %w", u, err)
			}
			s.log.printf("  disabled %s", u)
		}
	}
	var list strings.Builder
	files := p.files()
	for _, f := range append(files, RecordPath) {
		fmt.Fprintln(&list, r.path(f))
	}
	if _, err := r.run(ctx, removeScript, nil, strings.NewReader(list.String())); err != nil {
		return fmt.Errorf("remove uploaded files: %w", err)
	}
	s.log.printf("  removed %d files", len(files))
	if rec := s.facts.Record; rec != nil && len(rec.Links) > 0 {
		var links strings.Builder
		for _, l := range rec.Links {
			fmt.Fprintln(&links, r.path(l))
		}
		if _, err := r.run(ctx, removeLinksScript, nil, strings.NewReader(links.String())); err != nil {
			return fmt.Errorf("remove links: %w", err)
		}
		s.log.printf("  removed %d links", len(rec.Links))
	}
	for _, d := range p.createdDirs() {
		if _, err := r.run(ctx, `rmdir -- "$1" 2>/dev/null || true`, []string{r.path(d)}, nil); err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	if len(p.units()) > 0 && o.Root == "" && s.facts.Init == "systemd" {
		if _, err := r.run(ctx, "systemctl daemon-reload", nil, nil); err != nil {
			return fmt.Errorf("systemctl daemon-reload: %w", err)
		}
	}
	return nil
}
