package airgap

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/edgeimg/edgeimg/internal/humanize"
)

// progress reports download progress: a bar redrawn in place on a
// terminal, a line per finished blob otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	blobs int
	total int64
	done  atomic.Int64
	count atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	began time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) start(blobs int, total int64) {
	if p.w == nil || blobs == 0 {
		return
	}
	p.blobs, p.total, p.began = blobs, total, time.Now()
	fmt.Fprintf(p.w, "pulling %d blobs, %s\n", blobs, humanize.Bytes(total))
	if !p.tty {
		return
	}
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	done := p.done.Load()
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(done)/float64(p.total), 1)
	}
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s/%s  %d/%d blobs ",
		strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100,
		humanize.Bytes(done), humanize.Bytes(p.total), p.count.Load(), p.blobs)
}

func (p *progress) blobDone(d ocispec.Descriptor) {
	n := p.count.Add(1)
	if p.w == nil || p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "  %d/%d %s %s\n", n, p.blobs, d.Digest.Encoded()[:12], humanize.Bytes(d.Size))
}

func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		p.wg.Wait()
		p.stop = nil
	}
	if p.w != nil && p.blobs > 0 {
		el := time.Since(p.began)
		fmt.Fprintf(p.w, "pulled %s in %s (%s/s)\n", humanize.Bytes(p.done.Load()), el.Round(time.Millisecond),
			humanize.Bytes(int64(float64(p.done.Load())/max(el.Seconds(), 1e-3))))
	}
}

// countingReader adds what it reads to the progress; undo takes a failed
// attempt's bytes back out.
type countingReader struct {
	r io.Reader
	p *progress
	n int64
}

func (p *progress) reader(r io.Reader) *countingReader { return &countingReader{r: r, p: p} }

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.done.Add(int64(n))
	return n, err
}

func (c *countingReader) undo() { c.p.done.Add(-c.n); c.n = 0 }
