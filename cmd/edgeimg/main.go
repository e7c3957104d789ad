package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitInterrupted is the exit status of a run stopped by SIGINT or SIGTERM
// (128+SIGINT, as a shell reports it).
const exitInterrupted = 130

func main() {
	// SIGINT/SIGTERM cancel the run's context: a command stops, removes
	// what it staged and returns; a second signal kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "edgeimg: interrupted:", err)
			os.Exit(exitInterrupted)
		}
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := ec.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "edgeimg:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "edgeimg:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App { return newAppAt(time.Now) }

// newAppAt is the app with now as its clock: the day plan, build and
// versions judge Kubernetes support on (tests pass a fixed one).
func newAppAt(now func() time.Time) *cli.App {
	return &cli.App{
		Name:    "edgeimg",
		Usage:   "build airgapped k0s + Knative edge OS images that fit a small node",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cache-dir", Usage: "cache for downloads and built artifacts", EnvVars: []string{"EDGEIMG_CACHE"}},
			&cli.BoolFlag{Name: "debug", Usage: "verbose logging"},
		},
		Commands: []*cli.Command{
			specCommand(),
			planCommand(now),
			manifestsCommand(),
			k0sconfigCommand(),
			imagesCommand(),
			deployCommand(), kubeconfigCommand(),
			buildCommand(now), boardsCommand(), versionsCommand(now), deviceConfigCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main prints and exits
		// A repeatable flag's value is never split on commas by the flag
		// parser: --k0s-env GODEBUG=a=1,b=1 is one variable and --set
		// PATH=a,b one assignment. Lists are split where the field is a
		// list (spec.Document.Set, commaList).
		DisableSliceFlagSeparator: true,
	}
}
