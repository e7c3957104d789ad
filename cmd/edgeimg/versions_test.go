package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func at(day string) func() time.Time {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t.Add(12 * time.Hour) }
}

func TestVersionsCommand(t *testing.T) {
	tests := []struct {
		day  string
		want []string // lines, columns joined by single spaces
	}{
		{"2026-12-06", []string{
			"K0S KUBERNETES CONTAINERD END OF LIFE STATUS",
			"v1.36.3+k0s.2 1.36.3 2.3.3 2027-06-28 default",
			"v1.35.7+k0s.0 1.35.7 1.7.34 2027-02-28 supported",
			"v1.33.8+k0s.1 1.33.8 1.7.30 2026-06-28 end of life",
		}},
		{"2027-01-15", []string{
			"v1.36.3+k0s.2 1.36.3 2.3.3 2027-06-28 default",
			"v1.35.7+k0s.0 1.35.7 1.7.34 2027-02-28 ends soon",
		}},
		{"2027-05-01", []string{
			"v1.36.3+k0s.2 1.36.3 2.3.3 2027-06-28 ends soon",
			"v1.35.7+k0s.0 1.35.7 1.7.34 2027-02-28 end of life",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.day, func(t *testing.T) {
			out, err := runAppAt(t, at(tt.day), "versions")
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in:\n%s", w, out)
				}
			}
		})
	}
}

// TestSupportWarnings: plan and build warn on stderr when the spec's
// Kubernetes line is out of support or within 60 days of it, naming the
// release to move to; the default on a day it is supported says nothing.
func TestSupportWarnings(t *testing.T) {
	const warn = "edgeimg: warning: k0s"
	tests := []struct {
		name string
		day  string
		args []string
		want string // "" means no warning
	}{
		{"plan default", "2026-12-06", []string{"plan"}, ""},
		{"plan 1.35 ending", "2027-01-15", []string{"plan", "--k0s-version", "v1.35.7+k0s.0"},
			"k0s v1.35.7+k0s.0 runs Kubernetes 1.35, whose support ends on 2027-02-28 (in 44 days): move to k0s v1.36.3+k0s.2 (Kubernetes 1.36, end of life 2027-06-28) with spec.k0s.version"},
		{"plan default ending", "2027-05-01", []string{"plan"}, "support ends on 2027-06-28 (in 58 days)"},
		{"build 1.35 ended", "2027-03-01", []string{"build", "--dry-run", "--os-only", "--k0s-version", "v1.35.7+k0s.0"},
			"whose support ended on 2027-02-28 (1 day ago): it gets no more fixes, security ones included: move to k0s v1.36.3+k0s.2"},
		{"build default", "2026-12-06", []string{"build", "--dry-run", "--os-only"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args[0] == "build" {
				args = append(args, "-o", filepath.Join(t.TempDir(), "out"))
			}
			out, err := runAppAt(t, at(tt.day), args...)
			if code := exitCode(err); code != 0 {
				t.Fatalf("exit %d: %v\n%s", code, err, out)
			}
			switch {
			case tt.want == "" && strings.Contains(out, warn):
				t.Errorf("unexpected warning:\n%s", out)
			case tt.want != "" && !strings.Contains(out, tt.want):
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestPlanRefusesUnsupportedPairing: the default stacks (Knative and
// Kourier 1.23) need Kubernetes 1.34 to 1.36; plan refuses k0s 1.33 naming
// the fields and the range, and takes 1.35.
func TestPlanRefusesUnsupportedPairing(t *testing.T) {
	out, err := runApp(t, "plan", "--k0s-version", "v1.33.8+k0s.1")
	if err == nil {
		t.Fatalf("plan with k0s 1.33 and Knative 1.23 succeeded:\n%s", out)
	}
	for _, w := range []string{
		"spec.knative.version: 1.23.0 supports Kubernetes 1.34 to 1.36",
		"spec.k0s.version v1.33.8+k0s.1 runs Kubernetes 1.33.8",
		"spec.kourier.version: 1.23.0 supports Kubernetes 1.34 to 1.36",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "spec.metallb.version") {
		t.Errorf("MetalLB v0.15.3 supports 1.33, yet: %v", err)
	}
	if out, err := runApp(t, "plan", "--k0s-version", "v1.35.7+k0s.0"); exitCode(err) != 0 {
		t.Errorf("plan with k0s 1.35: %v\n%s", err, out)
	}
}
