package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/payload"
)

// linkState is one payload link on the host.
type linkState struct {
	// TargetExists is set when the link's target is on the host (its
	// package is installed).
	TargetExists bool
	// State is "ok" (the path resolves to the target already), "absent",
	// "link" (a symbolic link elsewhere: deploy replaces it) or "file"
	// (something not a link: deploy refuses to replace it).
	State string
}

// linkStateScript answers, per "path\ttarget\troot-target" line on stdin
// (path and root-target under the deploy root, target as the node sees
// it), whether the target exists and what is at the path.
const linkStateScript = `while IFS="$(printf '\t')" read -r p t rt; do
  e=0; [ -e "$rt" ] && e=1
  if [ -L "$p" ] && [ "$(readlink -- "$p")" = "$t" ]; then s=ok
  elif [ -e "$p" ] && [ "$(readlink -f -- "$p")" = "$(readlink -f -- "$rt")" ]; then s=ok
  elif [ -L "$p" ]; then s=link
  elif [ -e "$p" ]; then s=file
  else s=absent; fi
  echo "$e $s"
done
`

// linkStates reads the state of each payload link on the host.
func (p *connectPhase) linkStates(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	if o.Payload == nil || s.reset || len(o.Payload.Links) == 0 {
		return nil
	}
	var in strings.Builder
	for _, l := range o.Payload.Links {
		fmt.Fprintf(&in, "%s\t%s\t%s\n", r.path(l.Path), l.Target, r.path(l.Target))
	}
	out, err := r.run(ctx, linkStateScript, nil, strings.NewReader(in.String()))
	if err != nil {
		return fmt.Errorf("check payload links on the host: %w", err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(o.Payload.Links) {
		return fmt.Errorf("check payload links on the host: %d answers for %d links", len(lines), len(o.Payload.Links))
	}
	s.facts.Links = make([]linkState, len(lines))
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 {
			return fmt.Errorf("check %s on the host: unexpected answer %q", o.Payload.Links[i].Path, line)
		}
		s.facts.Links[i] = linkState{TargetExists: f[0] == "1", State: f[1]}
	}
	return nil
}

// linkChecks are the preflight findings for the payload's links: each
// target must be on the host (its Debian package installed), and nothing
// but a link may be at the link's path.
func (p *preflightPhase) linkChecks(add func(bool, string, ...any)) {
	s := p.s
	pl := s.opts.Payload
	if pl == nil || len(s.facts.Links) != len(pl.Links) {
		return
	}
	var missing []string
	for i, l := range pl.Links {
		st := s.facts.Links[i]
		if !st.TargetExists {
			missing = append(missing, l.Target)
		}
		if st.State == "file" {
			add(true, "%s exists and is not a link: the payload links it to %s; move it away first", l.Path, l.Target)
		}
	}
	switch {
	case len(missing) > 0:
		add(true, "the payload links to %s, which the host lacks: install %s (apt-get install %s)",
			strings.Join(missing, ", "), strings.Join(pl.Packages, ", "), strings.Join(pl.Packages, " "))
	case len(pl.Links) > 0:
		add(false, "%d links to files of %s", len(pl.Links), strings.Join(pl.Packages, ", "))
	}
}

// linkScript points $1 at $2, creating its directory.
const linkScript = `mkdir -p -- "$(dirname -- "$1")" && ln -sfn -- "$2" "$1"`

// writeLinks creates the links the host lacks, or that point elsewhere,
// and returns the paths it created or replaced.
func (p *uploadPhase) writeLinks(ctx context.Context) ([]string, error) {
	s := p.s
	r := s.r
	var made []string
	for i, l := range s.opts.Payload.Links {
		if i < len(s.facts.Links) && s.facts.Links[i].State == "ok" {
			continue
		}
		if _, err := r.run(ctx, linkScript, []string{r.path(l.Path), l.Target}, nil); err != nil {
			return made, fmt.Errorf("link %s: %w", l.Path, err)
		}
		s.changed[l.Path] = true
		s.log.printf("  linked %s -> %s", l.Path, l.Target)
		made = append(made, l.Path)
	}
	return made, nil
}

// linksDryRun says what writeLinks would do.
func linksDryRun(w io.Writer, links []payload.Link, states []linkState) {
	for i, l := range links {
		if i < len(states) && states[i].State == "ok" {
			continue
		}
		fmt.Fprintf(w, "  would link %s -> %s\n", l.Path, l.Target)
	}
}

// removeLinksScript removes each path on stdin that is a symbolic link.
const removeLinksScript = `while IFS= read -r p; do
  if [ -L "$p" ]; then rm -f -- "$p" || exit 1; fi
done
`
