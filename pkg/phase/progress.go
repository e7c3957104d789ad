package phase

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

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
