package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingTB records how Require and FixturesDir stop a test without
// stopping the real one.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		ci          string
		cond        bool
		skip, fatal bool
	}{
		{ci: "", cond: true},
		{ci: "1", cond: true},
		{ci: "", cond: false, skip: true},
		{ci: "0", cond: false, skip: true},
		{ci: "false", cond: false, skip: true},
		{ci: "1", cond: false, fatal: true},
		{ci: "true", cond: false, fatal: true},
	} {
		t.Run(fmt.Sprintf("ci=%q,cond=%v", tc.ci, tc.cond), func(t *testing.T) {
			t.Setenv(CIEnv, tc.ci)
			r := &recordingTB{TB: t}
			Require(r, tc.cond, "qemu-system-x86_64 not installed")
			if r.skipped != tc.skip || r.failed != tc.fatal {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tc.skip, tc.fatal)
			}
			if (tc.skip || tc.fatal) && !strings.Contains(r.msg, "qemu-system-x86_64 not installed") {
				t.Errorf("message %q does not carry the reason", r.msg)
			}
		})
	}
}

func TestFixturesDir(t *testing.T) {
	t.Run("override", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(FixturesEnv, dir)
		if got := FixturesDir(t); got != dir {
			t.Fatalf("FixturesDir = %q, want %q", got, dir)
		}
	})
	t.Run("missing override fails under CI", func(t *testing.T) {
		t.Setenv(FixturesEnv, filepath.Join(t.TempDir(), "nope"))
		t.Setenv(CIEnv, "1")
		r := &recordingTB{TB: t}
		FixturesDir(r)
		if !r.failed || !strings.Contains(r.msg, "nope") {
			t.Fatalf("failed=%v msg=%q, want a failure naming the directory", r.failed, r.msg)
		}
	})
	t.Run("default is beside the repository", func(t *testing.T) {
		t.Setenv(FixturesEnv, "")
		root := ModuleRoot(t)
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
			t.Fatalf("ModuleRoot %s has no go.mod", root)
		}
		want := filepath.Join(filepath.Dir(root), "shared", "fixtures", "upstream")
		got, err := fixturesDir()
		if _, statErr := os.Stat(want); statErr != nil {
			if err == nil {
				t.Fatalf("fixturesDir = %q with %s missing", got, want)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("fixturesDir = %q, %v; want %q", got, err, want)
		}
	})
}

func TestBinaryRejectsUnknownComponent(t *testing.T) {
	r := &recordingTB{TB: t}
	Binary(r, "etcd")
	if !r.failed || !strings.Contains(r.msg, "etcd") {
		t.Fatalf("failed=%v msg=%q, want a failure naming etcd", r.failed, r.msg)
	}
}
