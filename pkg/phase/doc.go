// Package phase runs a build or a deploy as a list of small steps, each
// reported as it starts and ends ("Debian base ... [SUCCESS]") while the
// details go to a debug log, undoing what already ran when a later step
// fails.
//
// A step is a Phase: a Title and a Run. It may also implement:
//
//   - DryRunner: say what Run would do, without doing it. Under a dry run
//     the Manager calls DryRun instead of Run; a phase without it is listed
//     by title only.
//   - ReadOnly: the phase only reads (connects, gathers facts, checks), so
//     it runs as usual under a dry run too and the phases after it can say
//     what they would do from what it read.
//   - CleanUpper: undo its own effects after a later failure, or its own.
//   - Releaser: give back what it holds (a connection) when the run ends,
//     however it ends.
//   - Detailer: a short note for its status line and its Result, such as
//     "cached".
//
// The Manager runs phases in order and records a Result per phase. On the
// first error it calls CleanUp on every phase that ran, latest first, marks
// the rest SKIPPED and returns an *Error naming the phase; Release is called
// last, on every phase it reached. By default each phase is one status line
// on Manager.Out; a Reporter shows it otherwise (deploy logs a line per
// phase and host).
//
// Phases log through the context: Log(ctx) is a *slog.Logger and
// Output(ctx) an io.Writer for the output of the commands they run; both
// write to the Manager's debug log.
package phase
