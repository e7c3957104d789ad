package deploy

import (
	"context"
	"fmt"
	"time"
)

// The phase shapes below mirror pkg/phase (Phase{Title, Run}, optional
// DryRun and CleanUp, a Manager running them in order); they live here until
// that package is merged, so switching over is a rename.

// phase is one step of a host's deploy.
type phase interface {
	Title() string
	Run(ctx context.Context) error
}

// dryRunner is a phase that changes the host: in a dry run the manager
// calls DryRun instead of Run, which reports what Run would change.
// Phases without DryRun only read and run as usual in a dry run.
type dryRunner interface {
	DryRun(ctx context.Context) error
}

// cleanUpper is a phase that holds something (a connection) to release
// once every phase has run or one has failed.
type cleanUpper interface {
	CleanUp(ctx context.Context)
}

// phaseManager runs phases in order, logging each as it starts and ends,
// and stops at the first failure.
type phaseManager struct {
	phases []phase
	dryRun bool
	log    *hostLog
}

func (m *phaseManager) run(ctx context.Context) (err error) {
	var ran []phase
	defer func() {
		for i := len(ran) - 1; i >= 0; i-- {
			if c, ok := ran[i].(cleanUpper); ok {
				c.CleanUp(context.WithoutCancel(ctx))
			}
		}
	}()
	for _, p := range m.phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.log.printf("==> %s", p.Title())
		start := time.Now()
		ran = append(ran, p)
		if d, ok := p.(dryRunner); ok && m.dryRun {
			err = d.DryRun(ctx)
		} else {
			err = p.Run(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", lowerFirst(p.Title()), err)
		}
		m.log.debugf("    %s done in %s", p.Title(), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
