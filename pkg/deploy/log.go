package deploy

import (
	"fmt"
	"io"
	"strings"
	"sync"
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
