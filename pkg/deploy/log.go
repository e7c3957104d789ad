package deploy

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/edgeimg/edgeimg/pkg/phase"
)

// hostLog writes whole lines prefixed with the host, so the logs of hosts
// deployed in parallel stay readable.
type hostLog struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	debug  bool
}

func (l *hostLog) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		b.WriteString(l.prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, b.String())
}

func (l *hostLog) debugf(format string, args ...any) {
	if l != nil && l.debug {
		l.printf(format, args...)
	}
}

// phaseLog reports a host's phases in its log: "==> Title" as each
// starts, then what a dry run would change and, with Debug, how long the
// phase took.
type phaseLog struct{ log *hostLog }

func (l phaseLog) Start(title string) { l.log.printf("==> %s", title) }

func (l phaseLog) End(r phase.Result) {
	if r.Plan != "" {
		// A line at a time, as the other log lines are written.
		for _, line := range strings.Split(strings.TrimRight(r.Plan, "\n"), "\n") {
			l.log.printf("%s", line)
		}
	}
	if r.Err == nil {
		l.log.debugf("    %s done in %s", r.Title, r.Duration.Round(time.Millisecond))
	}
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
