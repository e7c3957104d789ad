// Package phase runs a build or a deploy as a list of small steps, each
// printed as one status line ("Debian base ... [SUCCESS]") while the details
// go to a debug log, and undoes what already ran when a later step fails.
//
// A step is a Phase: a Title and a Run. It may also implement DryRunner
// (say what it would do without doing it), CleanUpper (undo itself after a
// later failure, or its own) and Detailer (a short note for its status line
// and the summary, such as "cached"). The Manager runs phases in order,
// records a Result per phase, and on the first error calls CleanUp on every
// phase that ran, in reverse order, then returns the error.
//
// Phases log through the context: Log(ctx) is a *slog.Logger and
// Output(ctx) an io.Writer for the output of the commands they run; both
// write to the Manager's debug log.
package phase

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Phase is one step of a run.
type Phase interface {
	// Title names the step on its status line ("Debian base").
	Title() string
	// Run does the step.
	Run(ctx context.Context) error
}

// DryRunner is a Phase that can describe what Run would do, writing to w,
// without changing anything. Phases without it are listed by title only.
type DryRunner interface {
	DryRun(ctx context.Context, w io.Writer) error
}

// CleanUpper is a Phase that undoes its own effects. The Manager calls
// CleanUp on every phase that ran (including the failing one) when a phase
// fails, latest first. CleanUp should be safe to call after a partial Run.
type CleanUpper interface {
	CleanUp(ctx context.Context)
}

// Detailer is a Phase with a short note shown after its status, read after
// Run ("cached", "1.2 GiB").
type Detailer interface {
	Detail() string
}

// Status is the outcome of a phase.
type Status string

// The statuses of a status line.
const (
	StatusSuccess Status = "SUCCESS"
	StatusFailed  Status = "FAILED"
	StatusSkipped Status = "SKIPPED" // not run because an earlier phase failed or the run was cancelled
	StatusDryRun  Status = "DRY-RUN"
)

// Result records one phase of a run.
type Result struct {
	Title    string
	Status   Status
	Detail   string
	Duration time.Duration
	Err      error
}

// Manager runs phases in order.
type Manager struct {
	// Out receives one status line per phase; nil discards them.
	Out io.Writer
	// Log receives the debug log (structured lines and command output);
	// nil discards it.
	Log io.Writer
	// DryRun calls DryRun (or prints the title) instead of Run.
	DryRun bool
	// Live redraws the running phase's status line with the byte progress
	// phases report (Progress); set it when Out is a terminal.
	Live bool

	phases  []Phase
	results []Result
}

// Add appends phases.
func (m *Manager) Add(p ...Phase) { m.phases = append(m.phases, p...) }

// Phases returns the phases added so far.
func (m *Manager) Phases() []Phase { return append([]Phase(nil), m.phases...) }

// Results returns one Result per phase of the last Run.
func (m *Manager) Results() []Result { return append([]Result(nil), m.results...) }

// Run runs every phase. On the first failure it cleans up the phases that
// ran, latest first, marks the rest SKIPPED and returns the error wrapped
// with the phase title.
func (m *Manager) Run(ctx context.Context) error {
	out := m.Out
	if out == nil {
		out = io.Discard
	}
	logw := m.Log
	if logw == nil {
		logw = io.Discard
	}
	lw := &lockedWriter{w: logw}
	logger := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx = context.WithValue(ctx, logKey{}, logger)
	ctx = context.WithValue(ctx, outputKey{}, io.Writer(lw))
	live := &liveLine{out: out, on: m.Live && !m.DryRun}
	ctx = context.WithValue(ctx, progressKey{}, live)

	m.results = make([]Result, 0, len(m.phases))
	width := 0
	for _, p := range m.phases {
		width = max(width, len(p.Title()))
	}
	var ran []Phase
	var runErr error
	for _, p := range m.phases {
		title := p.Title()
		if runErr != nil {
			m.results = append(m.results, Result{Title: title, Status: StatusSkipped})
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = fmt.Errorf("%s: %w", title, err)
			m.results = append(m.results, Result{Title: title, Status: StatusSkipped})
			continue
		}
		fmt.Fprintf(out, "%-*s ... ", width, title)
		live.start(fmt.Sprintf("%-*s ... ", width, title))
		logger.Info("phase start", "phase", title)
		start := time.Now()
		var err error
		status := StatusSuccess
		var detail lineBuffer
		if m.DryRun {
			status = StatusDryRun
			if d, ok := p.(DryRunner); ok {
				err = d.DryRun(ctx, &detail)
			}
		} else {
			ran = append(ran, p)
			err = p.Run(ctx)
		}
		r := Result{Title: title, Status: status, Duration: time.Since(start)}
		if d, ok := p.(Detailer); ok {
			r.Detail = d.Detail()
		}
		if err != nil {
			r.Status, r.Err = StatusFailed, err
			runErr = fmt.Errorf("%s: %w", title, err)
		}
		m.results = append(m.results, r)
		logger.Info("phase end", "phase", title, "status", r.Status, "duration", r.Duration.Round(time.Millisecond), "detail", r.Detail, "error", err)
		live.stop()
		note := ""
		if r.Detail != "" {
			note = " " + r.Detail
		}
		if m.DryRun && err == nil {
			fmt.Fprintf(out, "[%s]%s\n%s", r.Status, note, indent(detail.String()))
		} else {
			fmt.Fprintf(out, "[%s] (%s)%s\n", r.Status, r.Duration.Round(100*time.Millisecond), note)
		}
	}
	if runErr != nil {
		cctx := context.WithoutCancel(ctx)
		for i := len(ran) - 1; i >= 0; i-- {
			if c, ok := ran[i].(CleanUpper); ok {
				logger.Info("phase cleanup", "phase", ran[i].Title())
				c.CleanUp(cctx)
			}
		}
		return runErr
	}
	return nil
}

// Summary writes the per-phase durations of the last Run as a table.
func (m *Manager) Summary(w io.Writer) {
	var total time.Duration
	width := 0
	for _, r := range m.results {
		width = max(width, len(r.Title))
	}
	for _, r := range m.results {
		total += r.Duration
		fmt.Fprintf(w, "  %-*s  %-7s  %8s  %s\n", width, r.Title, r.Status, r.Duration.Round(100*time.Millisecond), r.Detail)
	}
	fmt.Fprintf(w, "  %-*s  %-7s  %8s\n", width, "total", "", total.Round(100*time.Millisecond))
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

type logKey struct{}
type outputKey struct{}
type progressKey struct{}

// Progress reports that a phase has done done of total bytes; the
// Manager shows it on the phase's status line when Live is set.
func Progress(ctx context.Context, done, total int64) {
	if l, ok := ctx.Value(progressKey{}).(*liveLine); ok {
		l.update(done, total)
	}
}

// ProgressReader counts what is read through r as progress of total bytes.
func ProgressReader(ctx context.Context, r io.Reader, total int64) io.Reader {
	return &progressReader{ctx: ctx, r: r, total: total}
}

type progressReader struct {
	ctx         context.Context
	r           io.Reader
	done, total int64
	last        time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 200*time.Millisecond || err != nil {
		p.last = time.Now()
		Progress(p.ctx, p.done, p.total)
	}
	return n, err
}

// liveLine redraws the current status line with a percentage.
type liveLine struct {
	mu     sync.Mutex
	out    io.Writer
	on     bool
	prefix string
	drawn  bool
}

func (l *liveLine) start(prefix string) {
	l.mu.Lock()
	l.prefix, l.drawn = prefix, false
	l.mu.Unlock()
}

func (l *liveLine) update(done, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on || total <= 0 {
		return
	}
	fmt.Fprintf(l.out, "\r%s%3d%% %s / %s ", l.prefix, done*100/total, mib(done), mib(total))
	l.drawn = true
}

func (l *liveLine) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprintf(l.out, "\r\x1b[K%s", l.prefix)
	}
	l.drawn = false
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// Log returns the run's debug logger (a discarding one outside a Manager).
func Log(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Output returns the writer for the output of commands a phase runs; it
// goes to the debug log (io.Discard outside a Manager).
func Output(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(outputKey{}).(io.Writer); ok {
		return w
	}
	return io.Discard
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

type lineBuffer struct{ b []byte }

func (l *lineBuffer) Write(p []byte) (int, error) { l.b = append(l.b, p...); return len(p), nil }
func (l *lineBuffer) String() string              { return string(l.b) }

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
