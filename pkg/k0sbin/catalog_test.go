package k0sbin

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

func TestCatalog(t *testing.T) {
	want := []string{"v1.36.3+k0s.2", "v1.35.7+k0s.0", "v1.33.8+k0s.1"}
	if got := KnownVersions(); !slices.Equal(got, want) {
		t.Errorf("known versions %v, want %v (newest first)", got, want)
	}
	if _, ok := Lookup(spec.DefaultK0sVersion); !ok {
		t.Errorf("the spec default %s is not in the catalog", spec.DefaultK0sVersion)
	}
	for _, tt := range []struct {
		k0s, kube, containerd, runc, kine string
	}{
		{"v1.36.3+k0s.2", "1.36.3", "2.3.3", "1.4.3", "0.16.3"},
		{"v1.35.7+k0s.0", "1.35.7", "1.7.34", "1.4.3", "0.14.16"},
		{"v1.33.8+k0s.1", "1.33.8", "1.7.30", "1.2.8", "0.13.19"},
	} {
		r, ok := Lookup(tt.k0s)
		if !ok {
			t.Errorf("%s: not in the catalog", tt.k0s)
			continue
		}
		if got := [4]string{r.Kubernetes, r.Containerd, r.Runc, r.Kine}; got != [4]string{tt.kube, tt.containerd, tt.runc, tt.kine} {
			t.Errorf("%s: components %v", tt.k0s, got)
		}
		if !slices.Equal(r.Arches, []string{"amd64", "arm64"}) {
			t.Errorf("%s: arches %v", tt.k0s, r.Arches)
		}
		if !strings.HasPrefix(tt.k0s, "v"+r.Kubernetes+"+k0s.") {
			t.Errorf("%s embeds Kubernetes %s", tt.k0s, r.Kubernetes)
		}
	}
	sums := map[string]string{}
	for v, rel := range k0sReleases() {
		if _, ok := kubernetesEndOfLife()[minorOf(rel.kubernetes)]; !ok {
			t.Errorf("%s: no end of life for Kubernetes %s", v, minorOf(rel.kubernetes))
		}
		for arch, b := range rel.bins {
			if len(b.sha256) != 64 || strings.Trim(b.sha256, "0123456789abcdef") != "" {
				t.Errorf("%s %s: sha256 %q is not hex", v, arch, b.sha256)
			}
			if other, dup := sums[b.sha256]; dup {
				t.Errorf("%s %s: same sha256 as %s", v, arch, other)
			}
			sums[b.sha256] = v + " " + arch
			if want := "https://github.com/k0sproject/k0s/releases/download/" + v + "/k0s-" + v + "-" + arch; b.url != want {
				t.Errorf("%s %s: url %s, want %s", v, arch, b.url, want)
			}
		}
	}
	for minor, day := range kubernetesEndOfLife() {
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			t.Errorf("Kubernetes %s: end of life %q: %v", minor, day, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	cat := catalog{"v1.33.9+k0s.0": {}, "v1.33.10+k0s.0": {}, "v1.36.0+k0s.0": {}, "v1.33.10+k0s.1": {}, "custom": {}}
	want := []string{"v1.36.0+k0s.0", "v1.33.10+k0s.1", "v1.33.10+k0s.0", "v1.33.9+k0s.0", "custom"}
	if got := cat.versions(); !slices.Equal(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSupport(t *testing.T) {
	tests := []struct {
		k0s, now string
		state    State
		status   string
	}{
		{"v1.36.3+k0s.2", "2026-12-06 12:00:00", Supported, "default"},
		{"v1.35.7+k0s.0", "2026-12-06 12:00:00", Supported, "supported"},
		{"v1.33.8+k0s.1", "2026-12-06 12:00:00", EndOfLife, "end of life"},
		{"v1.33.8+k0s.1", "2026-06-27 23:59:59", EndsSoon, "ends soon"},
		{"v1.33.8+k0s.1", "2026-06-28 00:00:00", EndOfLife, "end of life"},
		{"v1.35.7+k0s.0", "2026-12-30 00:00:00", EndsSoon, "ends soon"},    // 60 days before 2027-02-28
		{"v1.35.7+k0s.0", "2026-12-29 23:59:59", Supported, "supported"},   // a second more than 60 days
		{"v1.36.3+k0s.2", "2027-05-01 00:00:00", EndsSoon, "ends soon"},    // the default ending soon is no longer "default"
		{"v1.36.3+k0s.2", "2027-07-01 00:00:00", EndOfLife, "end of life"}, // nor past it
	}
	for _, tt := range tests {
		t.Run(tt.k0s+" "+tt.now, func(t *testing.T) {
			r, _ := Lookup(tt.k0s)
			s := SupportOf(r, day(tt.now))
			if s.State != tt.state || s.Status() != tt.status {
				t.Errorf("state %q status %q, want %q %q", s.State, s.Status(), tt.state, tt.status)
			}
		})
	}
	if s := SupportOf(Release{K0s: "v1.99.0+k0s.0", Kubernetes: "1.99.0"}, day("2026-12-06 00:00:00")); s.State != Unknown || !s.EndOfLife.IsZero() {
		t.Errorf("unknown line: %+v", s)
	}
}

func TestWarning(t *testing.T) {
	tests := []struct {
		k0s, now string
		want     []string // substrings; none means no warning
	}{
		{"v1.36.3+k0s.2", "2026-12-06 12:00:00", nil},
		{"v1.35.7+k0s.0", "2026-12-06 12:00:00", nil},
		{"v1.33.8+k0s.1", "2026-12-06 12:00:00", []string{
			"k0s v1.33.8+k0s.1 runs Kubernetes 1.33, whose support ended on 2026-06-28 (161 days ago)",
			"move to k0s v1.36.3+k0s.2 (Kubernetes 1.36, end of life 2027-06-28) with spec.k0s.version"}},
		{"v1.33.8+k0s.1", "2026-05-15 00:00:00", []string{"whose support ends on 2026-06-28 (in 44 days)", "move to k0s v1.36.3+k0s.2"}},
		{"v1.35.7+k0s.0", "2027-02-27 18:00:00", []string{"Kubernetes 1.35, whose support ends on 2027-02-28 (in 1 day)", "move to k0s v1.36.3+k0s.2"}},
		// 1.36 ending soon, 1.35 already gone: nothing newer to name.
		{"v1.36.3+k0s.2", "2027-05-01 00:00:00", []string{"support ends on 2027-06-28 (in 58 days)", "knows no k0s release on a line supported longer"}},
		{"v1.35.7+k0s.0", "2027-03-01 00:00:00", []string{"support ended on 2027-02-28 (1 day ago)", "move to k0s v1.36.3+k0s.2"}},
		{"v9.9.9+k0s.0", "2026-12-06 00:00:00", nil}, // not in the catalog: validation's business
	}
	for _, tt := range tests {
		t.Run(tt.k0s+" "+tt.now, func(t *testing.T) {
			got := Warning(tt.k0s, day(tt.now))
			if len(tt.want) == 0 {
				if got != "" {
					t.Errorf("warning %q, want none", got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
		})
	}
}
