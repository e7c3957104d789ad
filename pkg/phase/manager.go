package phase

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Manager runs phases in order.
type Manager struct {
	// Out receives one status line per phase; nil discards them.
	Out io.Writer
	// Log receives the debug log (structured lines and command output);
	// nil discards it.
	Log io.Writer
	// DryRun calls DryRun (or prints the title) instead of Run, except on
	// ReadOnly phases.
	DryRun bool
	// Live redraws the running phase's status line with the byte progress
	// phases report (Progress); set it when Out is a terminal.
	Live bool
	// Reporter, when set, is told of each phase instead of the status
	// lines on Out (and Live).
	Reporter Reporter

	phases  []Phase
	results []Result
}

// Add appends phases.
func (m *Manager) Add(p ...Phase) { m.phases = append(m.phases, p...) }

// Results returns one Result per phase of the last Run.
func (m *Manager) Results() []Result { return append([]Result(nil), m.results...) }

// Run runs every phase. On the first failure it cleans up the phases that
// ran, latest first, marks the rest SKIPPED and returns an *Error naming
// the phase. Either way it then releases every phase it reached.
func (m *Manager) Run(ctx context.Context) error {
	logw := m.Log
	if logw == nil {
		logw = io.Discard
	}
	lw := &lockedWriter{w: logw}
	logger := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx = context.WithValue(ctx, logKey{}, logger)
	ctx = context.WithValue(ctx, outputKey{}, io.Writer(lw))
	rep := m.Reporter
	if rep == nil {
		sl := m.statusLines()
		ctx = context.WithValue(ctx, progressKey{}, sl.live)
		rep = sl
	}

	m.results = make([]Result, 0, len(m.phases))
	var reached, ran []Phase
	var runErr error
	for _, p := range m.phases {
		title := p.Title()
		if runErr != nil {
			m.results = append(m.results, Result{Title: title, Status: StatusSkipped})
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = &Error{Phase: title, Err: err}
			m.results = append(m.results, Result{Title: title, Status: StatusSkipped})
			continue
		}
		rep.Start(title)
		logger.Info("phase start", "phase", title)
		reached = append(reached, p)
		_, reads := p.(ReadOnly)
		dry := m.DryRun && !reads
		if !dry {
			ran = append(ran, p)
		}
		r, err := runOne(ctx, p, dry)
		if err != nil {
			runErr = &Error{Phase: title, Err: err}
		}
		m.results = append(m.results, r)
		logger.Info("phase end", "phase", title, "status", r.Status, "duration", r.Duration.Round(time.Millisecond), "detail", r.Detail, "error", err)
		rep.End(r)
	}
	cctx := context.WithoutCancel(ctx)
	if runErr != nil {
		for i := len(ran) - 1; i >= 0; i-- {
			if c, ok := ran[i].(CleanUpper); ok {
				logger.Info("phase cleanup", "phase", ran[i].Title())
				c.CleanUp(cctx)
			}
		}
	}
	for i := len(reached) - 1; i >= 0; i-- {
		if r, ok := reached[i].(Releaser); ok {
			logger.Info("phase release", "phase", reached[i].Title())
			r.Release(cctx)
		}
	}
	return runErr
}

// runOne runs (or, when dry, dry-runs) one phase and returns its result.
func runOne(ctx context.Context, p Phase, dry bool) (Result, error) {
	r := Result{Title: p.Title(), Status: StatusSuccess}
	start := time.Now()
	var err error
	if dry {
		r.Status = StatusDryRun
		if d, ok := p.(DryRunner); ok {
			var plan strings.Builder
			err = d.DryRun(ctx, &plan)
			r.Plan = plan.String()
		}
	} else {
		err = p.Run(ctx)
	}
	r.Duration = time.Since(start)
	if d, ok := p.(Detailer); ok {
		r.Detail = d.Detail()
	}
	if err != nil {
		r.Status, r.Err = StatusFailed, err
	}
	return r, err
}

// FirstError returns the error of the failed phase of the last Run, if any.
func (m *Manager) FirstError() error {
	for _, r := range m.results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// statusLines is the Manager's own Reporter: "Title ... [STATUS] (1.2s)"
// per phase on Out, titles padded to the longest, with a dry run's plan
// indented below its line.
type statusLines struct {
	out   io.Writer
	width int
	live  *liveLine
}

func (m *Manager) statusLines() *statusLines {
	out := m.Out
	if out == nil {
		out = io.Discard
	}
	s := &statusLines{out: out, live: &liveLine{out: out, on: m.Live && !m.DryRun}}
	for _, p := range m.phases {
		s.width = max(s.width, len(p.Title()))
	}
	return s
}

func (s *statusLines) Start(title string) {
	prefix := fmt.Sprintf("%-*s ... ", s.width, title)
	fmt.Fprint(s.out, prefix)
	s.live.start(prefix)
}

func (s *statusLines) End(r Result) {
	s.live.stop()
	note := ""
	if r.Detail != "" {
		note = " " + r.Detail
	}
	if r.Status == StatusDryRun {
		fmt.Fprintf(s.out, "[%s]%s\n%s", r.Status, note, indent(r.Plan))
	} else {
		fmt.Fprintf(s.out, "[%s] (%s)%s\n", r.Status, r.Duration.Round(100*time.Millisecond), note)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	out := "    "
	for i, c := range s {
		out += string(c)
		if c == '\n' && i < len(s)-1 {
			out += "    "
		}
	}
	if s[len(s)-1] != '\n' {
		out += "\n"
	}
	return out
}
