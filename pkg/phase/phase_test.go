package phase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

type step struct {
	title   string
	fail    bool
	log     *[]string
	detail  string
	dryText string
}

func (s *step) Title() string { return s.title }
func (s *step) Run(ctx context.Context) error {
	*s.log = append(*s.log, "run "+s.title)
	fmt.Fprintf(Output(ctx), "output of %s\n", s.title)
	if s.fail {
		return errors.New("boom")
	}
	return nil
}
func (s *step) CleanUp(context.Context) { *s.log = append(*s.log, "cleanup "+s.title) }
func (s *step) Detail() string          { return s.detail }
func (s *step) DryRun(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintln(w, s.dryText)
	return err
}

func TestManager(t *testing.T) {
	tests := []struct {
		name       string
		failAt     int // -1: none
		dry        bool
		wantLog    []string
		wantStatus []Status
		wantErr    string
	}{
		{
			name: "all succeed", failAt: -1,
			wantLog:    []string{"run a", "run b", "run c"},
			wantStatus: []Status{StatusSuccess, StatusSuccess, StatusSuccess},
		},
		{
			name: "second fails: cleanup in reverse, third skipped", failAt: 1,
			wantLog:    []string{"run a", "run b", "cleanup b", "cleanup a"},
			wantStatus: []Status{StatusSuccess, StatusFailed, StatusSkipped},
			wantErr:    "b: boom",
		},
		{
			name: "dry run runs nothing", failAt: -1, dry: true,
			wantLog:    nil,
			wantStatus: []Status{StatusDryRun, StatusDryRun, StatusDryRun},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			var out, dbg bytes.Buffer
			m := &Manager{Out: &out, Log: &dbg, DryRun: tt.dry}
			for i, title := range []string{"a", "b", "c"} {
				m.Add(&step{title: title, fail: i == tt.failAt, log: &log, detail: "d-" + title, dryText: "would do " + title})
			}
			err := m.Run(context.Background())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Run error = %v, want %q", err, tt.wantErr)
			}
			if strings.Join(log, ",") != strings.Join(tt.wantLog, ",") {
				t.Errorf("calls = %v, want %v", log, tt.wantLog)
			}
			res := m.Results()
			if len(res) != 3 {
				t.Fatalf("results = %d, want 3", len(res))
			}
			for i, r := range res {
				if r.Status != tt.wantStatus[i] {
					t.Errorf("result %d status = %s, want %s", i, r.Status, tt.wantStatus[i])
				}
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if !strings.HasPrefix(lines[0], "a ... [") {
				t.Errorf("status line = %q, want it to start with %q", lines[0], "a ... [")
			}
			if tt.dry {
				if !strings.Contains(out.String(), "    would do b\n") {
					t.Errorf("dry-run output lacks the phase's description:\n%s", out.String())
				}
			} else if !strings.Contains(dbg.String(), "output of a") {
				t.Errorf("debug log lacks command output:\n%s", dbg.String())
			}
			if tt.failAt >= 0 && !strings.Contains(out.String(), "b ... [FAILED]") {
				t.Errorf("no FAILED line:\n%s", out.String())
			}
		})
	}
}

func TestCancelledContextSkipsRemaining(t *testing.T) {
	var log []string
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{}
	m.Add(&step{title: "a", log: &log}, cancelStep{cancel}, &step{title: "c", log: &log})
	err := m.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if got := strings.Join(log, ","); got != "run a,cleanup a" {
		t.Errorf("calls = %s", got)
	}
}

type cancelStep struct{ cancel func() }

func (c cancelStep) Title() string                 { return "cancel" }
func (c cancelStep) Run(ctx context.Context) error { c.cancel(); return nil }

type progressStep struct{}

func (progressStep) Title() string { return "copy" }
func (progressStep) Run(ctx context.Context) error {
	r := ProgressReader(ctx, strings.NewReader(strings.Repeat("x", 4<<20)), 8<<20)
	_, err := io.Copy(io.Discard, r)
	return err
}

func TestLiveProgress(t *testing.T) {
	var out bytes.Buffer
	m := &Manager{Out: &out, Live: true}
	m.Add(progressStep{})
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\rcopy ...  50% 4 MiB / 8 MiB") || !strings.Contains(out.String(), "[SUCCESS]") {
		t.Errorf("live output %q", out.String())
	}
	out.Reset()
	m = &Manager{Out: &out}
	m.Add(progressStep{})
	m.Run(context.Background())
	if strings.Contains(out.String(), "%") {
		t.Errorf("progress drawn without Live: %q", out.String())
	}
}

// reader only reads: it runs under a dry run too, and holds something
// released when the run ends.
type reader struct{ step }

func (*reader) ReadOnly()                 {}
func (r *reader) Release(context.Context) { *r.log = append(*r.log, "release "+r.title) }

// recorder is a Reporter noting what it is told.
type recorder struct{ events []string }

func (r *recorder) Start(title string) { r.events = append(r.events, "start "+title) }
func (r *recorder) End(res Result) {
	r.events = append(r.events, fmt.Sprintf("end %s %s %q", res.Title, res.Status, res.Plan))
}

func TestReadOnlyReleaseReporter(t *testing.T) {
	tests := []struct {
		name       string
		failAt     int // -1: none
		dry        bool
		wantLog    []string
		wantEvents []string
		wantErr    string
	}{
		{
			name: "all succeed: released at the end", failAt: -1,
			wantLog:    []string{"run conn", "run b", "run c", "release conn"},
			wantEvents: []string{"start conn", `end conn SUCCESS ""`, "start b", `end b SUCCESS ""`, "start c", `end c SUCCESS ""`},
		},
		{
			name: "dry run runs the reader only", failAt: -1, dry: true,
			wantLog:    []string{"run conn", "release conn"},
			wantEvents: []string{"start conn", `end conn SUCCESS ""`, "start b", "end b DRY-RUN \"would do b\\n\"", "start c", "end c DRY-RUN \"would do c\\n\""},
		},
		{
			name: "failure: clean-ups, then release", failAt: 2,
			wantLog:    []string{"run conn", "run b", "run c", "cleanup c", "cleanup b", "cleanup conn", "release conn"},
			wantEvents: []string{"start conn", `end conn SUCCESS ""`, "start b", `end b SUCCESS ""`, "start c", `end c FAILED ""`},
			wantErr:    "c: boom",
		},
		{
			name: "the reader fails: released all the same", failAt: 0,
			wantLog:    []string{"run conn", "cleanup conn", "release conn"},
			wantEvents: []string{"start conn", `end conn FAILED ""`},
			wantErr:    "conn: boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			var out bytes.Buffer
			rec := &recorder{}
			m := &Manager{Out: &out, DryRun: tt.dry, Reporter: rec}
			m.Add(&reader{step{title: "conn", fail: tt.failAt == 0, log: &log, dryText: "would connect"}})
			for i, title := range []string{"b", "c"} {
				m.Add(&step{title: title, fail: i+1 == tt.failAt, log: &log, dryText: "would do " + title})
			}
			err := m.Run(context.Background())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantErr != "" {
				var pe *Error
				if !errors.As(err, &pe) || err.Error() != tt.wantErr || pe.Err.Error() != "boom" {
					t.Fatalf("Run error = %v, want an *Error %q", err, tt.wantErr)
				}
			}
			if got, want := strings.Join(log, ","), strings.Join(tt.wantLog, ","); got != want {
				t.Errorf("calls = %s, want %s", got, want)
			}
			if got, want := strings.Join(rec.events, "\n"), strings.Join(tt.wantEvents, "\n"); got != want {
				t.Errorf("reported:\n%s\nwant:\n%s", got, want)
			}
			if out.Len() != 0 {
				t.Errorf("status lines written beside a Reporter: %q", out.String())
			}
		})
	}
}

func TestCancelledBeforeAPhaseIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &Manager{}
	m.Add(&step{title: "a", log: new([]string)})
	err := m.Run(ctx)
	var pe *Error
	if !errors.As(err, &pe) || pe.Phase != "a" || !errors.Is(err, context.Canceled) || m.FirstError() != nil {
		t.Fatalf("Run = %v (first error %v), want an *Error for a wrapping context.Canceled and no failed phase", err, m.FirstError())
	}
}
