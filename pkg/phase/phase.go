package phase

import (
	"context"
	"io"
	"log/slog"
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

// ReadOnly is a Phase that changes nothing: under a dry run the Manager
// calls its Run as usual (not DryRun), so the phases after it can plan from
// what it read. ReadOnly itself is never called.
type ReadOnly interface {
	ReadOnly()
}

// CleanUpper is a Phase that undoes its own effects. The Manager calls
// CleanUp on every phase whose Run it called (including the failing one)
// when a phase fails, latest first. CleanUp should be safe to call after a
// partial Run.
type CleanUpper interface {
	CleanUp(ctx context.Context)
}

// Releaser is a Phase that holds something for the phases after it (a
// connection). The Manager calls Release on every phase it reached, latest
// first, once the run ends: after the last phase, after a failure (and the
// clean-ups), and under a dry run.
type Releaser interface {
	Release(ctx context.Context)
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
	// Plan is what the phase's DryRun wrote (dry runs only).
	Plan string
}

// Error is what Manager.Run returns: the phase that failed, or that was
// not started because the run's context ended, and its error. Its text is
// "Title: error".
type Error struct {
	Phase string
	Err   error
}

func (e *Error) Error() string { return e.Phase + ": " + e.Err.Error() }

// Unwrap returns the phase's error.
func (e *Error) Unwrap() error { return e.Err }

// Reporter shows a run as it goes, in place of the Manager's status lines.
// Start and End are called from the goroutine running Manager.Run, once
// per phase the Manager reaches; skipped phases are not reported.
type Reporter interface {
	// Start is called before the phase runs (or dry-runs).
	Start(title string)
	// End is called after, with its result.
	End(r Result)
}

type logKey struct{}
type outputKey struct{}

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
