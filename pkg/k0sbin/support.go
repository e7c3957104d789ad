package k0sbin

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// EndsSoonWindow is how long before its Kubernetes line's end of life a
// release counts as ending soon: plan and build warn from then on.
const EndsSoonWindow = 60 * 24 * time.Hour

// kubernetesEndOfLife are the end-of-life dates of the Kubernetes minors
// (kubernetes.io's release pages, checked 2026-12-05), YYYY-MM-DD. A line
// is supported through the day before.
func kubernetesEndOfLife() map[string]string {
	return map[string]string{
		"1.33": "2026-06-28",
		"1.34": "2026-10-27",
		"1.35": "2027-02-28",
		"1.36": "2027-06-28",
		"1.37": "2027-10-28",
	}
}

// State is where a release's Kubernetes line stands on a given day.
type State string

const (
	// Supported: more than EndsSoonWindow before the end of life.
	Supported State = "supported"
	// EndsSoon: the end of life is within EndsSoonWindow.
	EndsSoon State = "ends soon"
	// EndOfLife: the end of life has passed.
	EndOfLife State = "end of life"
	// Unknown: edgeimg does not know the line's end of life.
	Unknown State = "unknown"
)

// Support is a release's Kubernetes support on a given day.
type Support struct {
	Release
	// EndOfLife is the first day the line is out of support (UTC
	// midnight); zero when unknown.
	EndOfLife time.Time
	State     State
	// Default reports whether this is the embedded default spec's k0s.
	Default bool
}

// Status is the State as `edgeimg versions` shows it: "default" for the
// default release while it is supported.
func (s Support) Status() string {
	if s.Default && s.State == Supported {
		return "default"
	}
	return string(s.State)
}

// SupportOf is release r's support on day now.
func SupportOf(r Release, now time.Time) Support {
	s := Support{Release: r, State: Unknown, Default: r.K0s == spec.DefaultK0sVersion}
	day, ok := kubernetesEndOfLife()[r.KubernetesMinor()]
	if !ok {
		return s
	}
	eol, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return s // the table is tested to parse
	}
	s.EndOfLife = eol
	switch left := eol.Sub(now); {
	case left <= 0:
		s.State = EndOfLife
	case left <= EndsSoonWindow:
		s.State = EndsSoon
	default:
		s.State = Supported
	}
	return s
}

// Supports are every catalog release's support on day now, newest first.
func Supports(now time.Time) []Support {
	var out []Support
	for _, r := range Releases() {
		out = append(out, SupportOf(r, now))
	}
	return out
}

// Warning is what plan and build say about k0s version v on day now: ""
// while its Kubernetes line is supported for more than EndsSoonWindow (or
// v is not in the catalog, which spec validation refuses), else when the
// line's support ends or ended and the release to move to.
func Warning(v string, now time.Time) string {
	return k0sReleases().warning(v, now)
}

func (cat catalog) warning(v string, now time.Time) string {
	rel, ok := cat[v]
	if !ok {
		return ""
	}
	s := SupportOf(rel.info(v), now)
	var b strings.Builder
	eol := s.EndOfLife.Format(time.DateOnly)
	switch s.State {
	case EndOfLife:
		fmt.Fprintf(&b, "k0s %s runs Kubernetes %s, whose support ended on %s (%s ago): it gets no more fixes, security ones included",
			v, s.KubernetesMinor(), eol, nDays(int(now.Sub(s.EndOfLife)/(24*time.Hour))))
	case EndsSoon:
		fmt.Fprintf(&b, "k0s %s runs Kubernetes %s, whose support ends on %s (in %s)",
			v, s.KubernetesMinor(), eol, nDays(daysUntil(s.EndOfLife.Sub(now))))
	default:
		return ""
	}
	if to, ok := cat.moveTo(v, now); ok {
		fmt.Fprintf(&b, ": move to k0s %s (Kubernetes %s, end of life %s) with spec.k0s.version",
			to.K0s, to.KubernetesMinor(), to.EndOfLife.Format(time.DateOnly))
	} else {
		b.WriteString(": this edgeimg knows no k0s release on a line supported longer; a newer edgeimg will")
	}
	return b.String()
}

// moveTo is the release to move to from v: the newest catalog release on a
// Kubernetes line supported beyond EndsSoonWindow, other than v's own line.
func (cat catalog) moveTo(v string, now time.Time) (Support, bool) {
	from := minorOf(cat[v].kubernetes)
	for _, k := range cat.versions() {
		s := SupportOf(cat[k].info(k), now)
		if s.State == Supported && s.KubernetesMinor() != from {
			return s, true
		}
	}
	return Support{}, false
}

// daysUntil counts the days left in d, a part day as a whole one.
func daysUntil(d time.Duration) int {
	const day = 24 * time.Hour
	return int((d + day - 1) / day)
}

func nDays(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// minorOf is "1.36" for "1.36.3".
func minorOf(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}
