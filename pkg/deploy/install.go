package deploy

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// installPhase installs k0s as a single-node controller service, or keeps
// an existing install when it was made with the same flags. Every k0s
// command runs the payload's binary over the same connection.
type installPhase struct{ s *hostState }

func (p *installPhase) Title() string { return "Install k0s" }

// installArgs are the flags after "k0s install controller".
func installArgs(o *Options) []string {
	args := slices.Clone(o.InstallArgs)
	has := func(names ...string) bool {
		for _, a := range args {
			for _, n := range names {
				if a == n || strings.HasPrefix(a, n+"=") {
					return true
				}
			}
		}
		return false
	}
	if !has("--single") {
		args = append([]string{"--single"}, args...)
	}
	if !has("--config", "-c") && o.file(k0spath.Config) != nil {
		args = append(args, "--config="+k0spath.Config)
	}
	if o.DataDir != k0spath.DataDir && !has("--data-dir") {
		args = append(args, "--data-dir="+o.DataDir)
	}
	return args
}

// installCommand returns the k0s arguments that install (or reinstall)
// the service, or nil when the installed service already has these flags.
func (p *installPhase) installCommand() []string {
	s := p.s
	args := installArgs(s.opts)
	cmd := append([]string{"install", "controller"}, args...)
	switch {
	case s.facts.K0s.Service == "":
		return cmd
	case s.facts.Record != nil && slices.Equal(s.facts.Record.InstallArgs, args):
		return nil
	default:
		// Installed by hand or with other flags: rewrite the service.
		return append(cmd, "--force")
	}
}

func (p *installPhase) DryRun(_ context.Context, w io.Writer) error {
	s := p.s
	fmt.Fprintf(w, "  would run: k0s sysinfo --data-dir=%s\n", s.opts.DataDir)
	if cmd := p.installCommand(); cmd != nil {
		fmt.Fprintf(w, "  would run: k0s %s\n", strings.Join(cmd, " "))
		s.changed[k0sServiceKey] = true
	} else {
		fmt.Fprintln(w, "  k0s service already installed with these flags")
	}
	return nil
}

// k0sServiceKey marks, in hostState.changed, that the service was (re)installed.
const k0sServiceKey = "k0s service"

func (p *installPhase) Run(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	out, err := r.k0s(ctx, o, "sysinfo", "--data-dir="+o.DataDir)
	if err != nil {
		var bad []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "rejected") || strings.Contains(line, ": error") {
				bad = append(bad, strings.TrimSpace(line))
			}
		}
		if !o.IgnoreSysinfo {
			return fmt.Errorf("k0s sysinfo rejects the host: %s (%w); --ignore-sysinfo to go on", strings.Join(bad, "; "), err)
		}
		s.log.printf("  k0s sysinfo rejects the host (ignored): %s", strings.Join(bad, "; "))
	} else {
		s.log.printf("  k0s sysinfo: passed")
	}
	cmd := p.installCommand()
	if cmd == nil {
		s.log.printf("  k0s service already installed with these flags")
	} else {
		if _, err := r.k0s(ctx, o, cmd...); err != nil {
			return err
		}
		s.changed[k0sServiceKey] = true
		s.log.printf("  ran k0s %s", strings.Join(cmd, " "))
	}
	// The upload phase rewrote the record: read it back, since writing
	// the one read at connect would drop the files uploaded since.
	rec, err := readRecord(ctx, r)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &record{}
		if s.facts.Record != nil {
			*rec = *s.facts.Record
		}
	}
	rec.InstallArgs, rec.K0sVersion, rec.Units = installArgs(o), o.K0sVersion, o.Units
	return writeRecord(ctx, r, rec)
}

// startPhase starts k0s, or restarts it when its binary, config or
// service changed, then enables and starts the payload's units.
type startPhase struct{ s *hostState }

func (p *startPhase) Title() string { return "Start k0s" }

// k0sAction is "start", "restart" or "" (running, nothing changed).
func (p *startPhase) k0sAction() (string, string) {
	s := p.s
	var why []string
	for _, k := range []string{s.opts.K0sBinary, k0spath.Config, k0sServiceKey} {
		if s.changed[k] {
			why = append(why, k)
		}
	}
	switch {
	case !s.facts.K0s.Running:
		return "start", ""
	case len(why) > 0:
		return "restart", strings.Join(why, ", ") + " changed"
	default:
		return "", ""
	}
}

func (p *startPhase) DryRun(_ context.Context, w io.Writer) error {
	s := p.s
	switch act, why := p.k0sAction(); act {
	case "start":
		fmt.Fprintln(w, "  would run: k0s start")
	case "restart":
		fmt.Fprintf(w, "  would restart k0s (%s)\n", why)
	default:
		fmt.Fprintln(w, "  k0s is running and nothing it reads changed")
	}
	for _, u := range s.opts.Units {
		fmt.Fprintf(w, "  would enable and start %s\n", u)
	}
	return nil
}

func (p *startPhase) Run(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	act, why := p.k0sAction()
	switch act {
	case "restart":
		s.log.printf("  restarting k0s: %s", why)
		if _, err := r.k0s(ctx, o, "stop"); err != nil {
			return err
		}
		fallthrough
	case "start":
		if _, err := r.k0s(ctx, o, "start"); err != nil {
			return err
		}
		s.log.printf("  k0s started")
	default:
		s.log.printf("  k0s is running and nothing it reads changed")
	}
	if len(o.Units) == 0 {
		return nil
	}
	if _, err := r.run(ctx, "systemctl daemon-reload", nil, nil); err != nil {
		return fmt.Errorf("systemctl daemon-reload: %w", err)
	}
	for _, u := range o.Units {
		verb := "start"
		if s.changed[path.Join("/etc/systemd/system", u)] {
			verb = "restart"
		}
		// --no-block: a oneshot unit (the staged-stack promoter) runs
		// until the webhooks it waits for are up.
		if _, err := r.run(ctx, `systemctl enable "$1" && systemctl "$2" --no-block "$1"`, []string{u, verb}, nil); err != nil {
			return fmt.Errorf("enable %s: %w", u, err)
		}
		s.log.printf("  enabled and %sed %s", verb, u)
	}
	return nil
}
