package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgeimg/edgeimg/pkg/payload"
)

// uploadPhase puts every payload file on the host. A file is sent to
// <path>.edgeimg-part, appended to from where an interrupted run stopped
// when that prefix still matches, checked with sha256sum on the host, and
// renamed over <path> (same directory, so the switch is atomic). Files the
// host already has with the same sha256 are not sent.
type uploadPhase struct {
	s *hostState
	// links are the links this run created.
	links []string
}

func (p *uploadPhase) Title() string { return "Upload payload" }

type action int

const (
	actKeep action = iota
	actChmod
	actSend
	actResume
)

type filePlan struct {
	f   *payload.File
	st  fileState
	act action
}

func (p *uploadPhase) plan() []filePlan {
	s := p.s
	var plans []filePlan
	for i := range s.opts.Payload.Files {
		f := &s.opts.Payload.Files[i]
		st := s.facts.Files[i]
		fp := filePlan{f: f, st: st, act: actSend}
		switch {
		case st.SHA256 == f.SHA256 && st.Mode == modeString(f):
			fp.act = actKeep
		case st.SHA256 == f.SHA256:
			fp.act = actChmod
		case st.Part > 0 && st.Part <= f.Size:
			fp.act = actResume
		}
		plans = append(plans, fp)
	}
	return plans
}

// stale lists files of the previous deploy that left the payload.
func (p *uploadPhase) stale() []string {
	s := p.s
	if s.facts.Record == nil {
		return nil
	}
	var out []string
	for _, rf := range s.facts.Record.Files {
		if s.opts.file(rf.Path) == nil {
			out = append(out, rf.Path)
		}
	}
	return out
}

func modeString(f *payload.File) string {
	return fmt.Sprintf("%o", f.Mode.Perm())
}

// DryRun reports what Run would send, resume, fix and remove.
func (p *uploadPhase) DryRun(_ context.Context, w io.Writer) error {
	s := p.s
	var bytes int64
	keep := 0
	for _, fp := range p.plan() {
		if fp.act != actKeep {
			s.changed[fp.f.Path] = true
		}
		switch fp.act {
		case actKeep:
			keep++
			if fp.st.Part >= 0 {
				fmt.Fprintf(w, "  would remove %s%s (the file is complete)\n", fp.f.Path, PartSuffix)
			}
		case actChmod:
			fmt.Fprintf(w, "  would chmod %s %s (content unchanged)\n", modeString(fp.f), fp.f.Path)
		case actResume:
			n := fp.f.Size - fp.st.Part
			bytes += n
			fmt.Fprintf(w, "  would resume %s at %s: %s to send (all %s if the partial file does not match)\n", fp.f.Path, mib(fp.st.Part), mib(n), mib(fp.f.Size))
		case actSend:
			bytes += fp.f.Size
			what := "new"
			if fp.st.SHA256 != "" {
				what = "changed"
			}
			fmt.Fprintf(w, "  would send %s (%s, %s)\n", fp.f.Path, what, size(fp.f.Size))
		}
	}
	for _, st := range p.stale() {
		s.changed[st] = true
		fmt.Fprintf(w, "  would remove %s (no longer in the payload)\n", st)
	}
	linksDryRun(w, s.opts.Payload.Links, s.facts.Links)
	fmt.Fprintf(w, "  %d files unchanged, %s to send\n", keep, size(bytes))
	return nil
}

// sendScript receives a file into its partial file (appending when
// resuming), then checks its size and sha256 on the host, reading it back,
// and renames it into place. Reading back after the transfer measured
// faster than hashing while receiving (tee | sha256sum) over loopback on
// 2 cores.
const sendScript = `set -e
part=$1 dest=$2 off=$3 sum=$4 mode=$5 size=$6
mkdir -p -- "$(dirname -- "$dest")"
if [ "$off" = 0 ]; then
  cat > "$part"
else
  have=$(stat -c %s -- "$part")
  if [ "$have" != "$off" ]; then echo "$part is $have bytes, expected $off" >&2; exit 4; fi
  cat >> "$part"
fi
have=$(stat -c %s -- "$part")
if [ "$have" != "$size" ]; then echo "$part is $have bytes on the host, expected $size" >&2; exit 3; fi
got=$(sha256sum < "$part")
got=${got%% *}
if [ "$got" != "$sum" ]; then echo "sha256 on the host is $got, expected $sum" >&2; exit 3; fi
chmod "$mode" "$part"
mv -f -- "$part" "$dest"
`

// progressMin is the size from which an upload logs its progress.
const progressMin = 64 << 20

// Exit statuses of sendScript.
const (
	exitChecksum    = 3
	exitPartChanged = 4
)

func (p *uploadPhase) Run(ctx context.Context) error {
	s := p.s
	r := s.r
	start := time.Now()
	// Record up front what this run may leave on the host, so a reset or
	// the next run cleans up after an interrupted one too.
	if err := writeRecord(ctx, r, p.newRecord(true)); err != nil {
		return err
	}
	keep := 0
	for _, fp := range p.plan() {
		f := fp.f
		switch fp.act {
		case actKeep, actChmod:
			keep++
			s.res.FilesUnchanged++
			script := `rm -f -- "$1"`
			if fp.act == actChmod {
				script += `; chmod "$3" "$2"`
				s.changed[f.Path] = true
				s.log.printf("  chmod %s %s", modeString(f), f.Path)
			}
			if fp.act == actChmod || fp.st.Part >= 0 {
				if _, err := r.run(ctx, script, []string{r.path(f.Path) + PartSuffix, r.path(f.Path), modeString(f)}, nil); err != nil {
					return fmt.Errorf("%s: %w", f.Path, err)
				}
			}
			continue
		}
		var offset int64
		if fp.act == actResume {
			ok, err := p.prefixMatches(ctx, f, fp.st.Part)
			if err != nil {
				return err
			}
			if ok {
				offset = fp.st.Part
				s.log.printf("  resume %s at %s of %s", f.Path, mib(offset), mib(f.Size))
			} else {
				s.log.printf("  %s%s does not match the payload: sending it again", f.Path, PartSuffix)
			}
		}
		resumed, err := p.send(ctx, f, offset)
		if err != nil {
			return err
		}
		s.changed[f.Path] = true
		if resumed {
			s.res.FilesResumed++
		} else {
			s.res.FilesSent++
		}
	}
	made, err := p.writeLinks(ctx)
	if len(made) > 0 {
		// Recorded even when a later link fails, so a reset removes them.
		p.links = append(p.links, made...)
	}
	if err != nil {
		if werr := writeRecord(ctx, r, p.newRecord(true)); werr != nil {
			s.log.printf("  %v", werr)
		}
		return err
	}
	for _, st := range p.stale() {
		if _, err := r.run(ctx, `rm -f -- "$1" "$1.edgeimg-part"`, []string{r.path(st)}, nil); err != nil {
			return fmt.Errorf("remove %s: %w", st, err)
		}
		s.changed[st] = true
		s.log.printf("  removed %s (no longer in the payload)", st)
	}
	if err := writeRecord(ctx, r, p.newRecord(false)); err != nil {
		return err
	}
	d := time.Since(start)
	s.log.printf("  %d sent, %d resumed, %d unchanged; %s in %s%s", s.res.FilesSent, s.res.FilesResumed, keep, size(s.res.BytesSent), d.Round(time.Millisecond), rate(s.res.BytesSent, d))
	return nil
}

// newRecord is the previous record updated with this payload's files and
// the directories this run creates; keepOld keeps the previous files too
// (until the stale ones are removed).
func (p *uploadPhase) newRecord(keepOld bool) *record {
	s := p.s
	rec := &record{}
	if s.facts.Record != nil {
		*rec = *s.facts.Record
	}
	rec.Files = nil
	for _, f := range s.opts.Payload.Files {
		rec.Files = append(rec.Files, recordFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size})
	}
	if keepOld {
		for _, st := range p.stale() {
			for _, rf := range s.facts.Record.Files {
				if rf.Path == st {
					rec.Files = append(rec.Files, rf)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range rec.CreatedDirs {
		seen[d] = true
	}
	for _, d := range s.facts.Dirs {
		if !d.Exists && !seen[d.Path] {
			rec.CreatedDirs = append(rec.CreatedDirs, d.Path)
			seen[d.Path] = true
		}
	}
	rec.Links = append(rec.Links, p.links...)
	return rec
}

// prefixMatches reports whether the partial file on the host holds the
// first n bytes of f.
func (p *uploadPhase) prefixMatches(ctx context.Context, f *payload.File, n int64) (bool, error) {
	r := p.s.r
	out, err := r.run(ctx, `s=$(sha256sum < "$1") && echo "${s%% *}"`, []string{r.path(f.Path) + PartSuffix}, nil)
	if err != nil {
		return false, fmt.Errorf("hash %s%s: %w", f.Path, PartSuffix, err)
	}
	src, err := f.Open()
	if err != nil {
		return false, fmt.Errorf("payload %s: %w", f.Path, err)
	}
	defer src.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, src, n); err != nil {
		return false, fmt.Errorf("payload %s: %w", f.Path, err)
	}
	return strings.TrimSpace(out) == hex.EncodeToString(h.Sum(nil)), nil
}

// send streams f from offset into its partial file, which the host checks
// and renames into place, and reports whether it resumed. A checksum
// mismatch is retried once from the start.
func (p *uploadPhase) send(ctx context.Context, f *payload.File, offset int64) (bool, error) {
	s := p.s
	for attempt := 0; ; attempt++ {
		start := time.Now()
		sent, err := p.sendFrom(ctx, f, offset)
		s.res.BytesSent += sent
		if err == nil {
			s.log.printf("  sent %s (%s%s)", f.Path, size(sent), rate(sent, time.Since(start)))
			return offset > 0, nil
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("%s: interrupted after %s (rerun to resume): %w", f.Path, size(offset+sent), ctx.Err())
		}
		st := exitStatus(err)
		if attempt > 0 || (st != exitChecksum && st != exitPartChanged) {
			return false, fmt.Errorf("upload %s: %w", f.Path, err)
		}
		s.log.printf("  %s: %v; sending it again", f.Path, err)
		offset = 0
	}
}

func (p *uploadPhase) sendFrom(ctx context.Context, f *payload.File, offset int64) (int64, error) {
	s := p.s
	r := s.r
	src, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("payload %s: %w", f.Path, err)
	}
	defer src.Close()
	if offset > 0 {
		if sk, ok := src.(io.Seeker); ok {
			if _, err := sk.Seek(offset, io.SeekStart); err != nil {
				return 0, fmt.Errorf("payload %s: %w", f.Path, err)
			}
		} else if _, err := io.CopyN(io.Discard, src, offset); err != nil {
			return 0, fmt.Errorf("payload %s: %w", f.Path, err)
		}
	}
	cr := &countingReader{ctx: ctx, r: src}
	host := s.host.String()
	start, step := time.Now(), (f.Size-offset)/10
	next := step
	cr.progress = func(n int64) {
		if s.opts.Progress != nil {
			s.opts.Progress(Progress{Host: host, Path: f.Path, Sent: n, Offset: offset, Size: f.Size})
		}
		// Large files log every tenth, for slow links.
		if step >= progressMin/10 && n >= next && n < f.Size-offset {
			s.log.printf("  %s: %d%% (%s of %s%s)", f.Path, (offset+n)*100/f.Size, mib(offset+n), mib(f.Size), rate(n, time.Since(start)))
			next += step
		}
	}
	dest := r.path(f.Path)
	_, err = r.run(ctx, sendScript, []string{dest + PartSuffix, dest, fmt.Sprint(offset), f.SHA256, modeString(f), fmt.Sprint(f.Size)}, cr)
	return cr.n.Load(), err
}

// countingReader counts what is read and stops when ctx is done.
type countingReader struct {
	ctx      context.Context
	r        io.Reader
	n        atomic.Int64
	progress func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	total := c.n.Add(int64(n))
	if c.progress != nil && n > 0 {
		c.progress(total)
	}
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, err
}

func size(b int64) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 10<<10:
		return fmt.Sprintf("%d KiB", b>>10)
	default:
		return fmt.Sprintf("%d B", b)
	}
}

func rate(b int64, d time.Duration) string {
	if b < 1<<20 || d <= 0 {
		return ""
	}
	return fmt.Sprintf(", %.0f MiB/s", float64(b)/(1<<20)/d.Seconds())
}
