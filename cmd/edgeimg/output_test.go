package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/fixtures"
)

// runMainEnv makes the test binary run main() instead of the tests, so a
// test can run edgeimg as a real process (signals, exit status).
const runMainEnv = "EDGEIMG_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestOutputNeverDestroyed: manifests -o and images preload --root refuse,
// before rendering or pulling, anything at the output that is not missing
// or an empty directory, and leave it as it was; --force replaces a
// symlink itself, never its target.
func TestOutputNeverDestroyed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path, target string)
		want  string // refusal without --force; "" means allowed
		force string // refusal with --force
	}{
		{"regular file", func(t *testing.T, p, _ string) { os.WriteFile(p, []byte("mine"), 0o644) }, "is a regular file: already exists (use --force", ""},
		{"dangling symlink", func(t *testing.T, p, tg string) { os.Symlink(filepath.Join(tg, "nowhere"), p) }, "is a dangling symlink", ""},
		{"symlink to a dir", func(t *testing.T, p, tg string) { os.Symlink(tg, p) }, "is a symlink to", ""},
		{"non-empty dir", func(t *testing.T, p, _ string) {
			os.Mkdir(p, 0o755)
			os.WriteFile(filepath.Join(p, "keep"), []byte("mine"), 0o644)
		}, "is a non-empty directory", ""},
		{"empty dir", func(t *testing.T, p, _ string) { os.Mkdir(p, 0o755) }, "", ""},
		{"named pipe", func(t *testing.T, p, _ string) { syscall.Mkfifo(p, 0o644) }, "is a named pipe", "is a named pipe"},
	}
	for _, tt := range tests {
		for _, force := range []bool{false, true} {
			name := tt.name
			want := tt.want
			if force {
				name += " --force"
				want = tt.force
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				target := filepath.Join(dir, "target")
				os.Mkdir(target, 0o755)
				os.WriteFile(filepath.Join(target, "precious"), []byte("mine"), 0o644)
				out := filepath.Join(dir, "out")
				tt.setup(t, out, target)
				before := describePath(out)
				args := []string{"manifests", "-o", out}
				if want != "" {
					// The check runs before rendering: an upstream that
					// does not exist is never read.
					args = append(args, "--upstream", filepath.Join(dir, "nowhere"))
				}
				if force {
					args = append(args, "--force")
				}
				text, err := runApp(t, args...)
				if want == "" {
					if err != nil {
						t.Fatalf("%v\n%s", err, text)
					}
					if _, err := os.Stat(filepath.Join(out, "usr/local/libexec/edgeimg/promote-staged")); err != nil {
						t.Errorf("output not written: %v", err)
					}
				} else {
					if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), out) {
						t.Fatalf("err = %v, want %q naming %s", err, want, out)
					}
					if got := describePath(out); got != before {
						t.Errorf("refused output changed: %s, was %s", got, before)
					}
					// The same check guards images preload --root, before any pull.
					_, err := runApp(t, "--cache-dir", filepath.Join(dir, "cache"), "images", "preload", "--root", out, "--upstream", filepath.Join(dir, "nowhere"))
					if err == nil || !strings.Contains(err.Error(), tt.want) {
						t.Errorf("images preload --root: %v, want %q", err, tt.want)
					}
				}
				if data, err := os.ReadFile(filepath.Join(target, "precious")); err != nil || string(data) != "mine" {
					t.Errorf("symlink target touched: %q, %v", data, err)
				}
			})
		}
	}
}

func TestOutputDevNull(t *testing.T) {
	for _, args := range [][]string{
		{"manifests", "-o", "/dev/null", "--force", "--upstream", "/nowhere"},
		{"images", "preload", "--root", "/dev/null", "--force", "--upstream", "/nowhere"},
	} {
		_, err := runApp(t, args...)
		if err == nil || !strings.Contains(err.Error(), "/dev/null is a character device") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if fi, err := os.Lstat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null: %v %v", fi, err)
	}
}

func describePath(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "missing"
	}
	s := fi.Mode().Type().String()
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		l, _ := os.Readlink(path)
		s += " -> " + l
	case fi.IsDir():
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			s += " " + e.Name()
		}
	case fi.Mode().IsRegular():
		data, _ := os.ReadFile(path)
		s += " " + string(data)
	}
	return s
}

// TestInterruptRemovesStaging runs edgeimg manifests as a real process and
// signals it while its staging directory exists: it exits 130 and leaves
// neither the output nor the staging directory. The process is frozen
// (SIGSTOP) the moment the staging directory appears, so the signal is
// known to land while the output is being written.
func TestInterruptRemovesStaging(t *testing.T) {
	up := fixtures.Upstream(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			for attempt := 1; ; attempt++ {
				if attempt > 20 {
					t.Fatal("never caught the staging directory in 20 runs")
				}
				if caught := interruptOnce(t, up, sig); caught {
					t.Logf("caught in run %d", attempt)
					return
				}
			}
		})
	}
}

func interruptOnce(t *testing.T, up string, sig syscall.Signal) (caught bool) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cmd := exec.Command(os.Args[0], "--cache-dir", filepath.Join(dir, "cache"), "manifests", "--upstream", up, "-o", out)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	staging := func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".out.tmp-") && !strings.HasSuffix(e.Name(), ".old") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(time.Minute)
	for !staging() {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, stderr.String())
			}
			return false // finished before we saw it: try again
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no staging directory within a minute")
		}
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	if !staging() || describePath(out) != "missing" {
		// Stopped just after the commit: not the case under test.
		cmd.Process.Signal(syscall.SIGCONT)
		<-done
		return false
	}
	cmd.Process.Signal(sig)
	cmd.Process.Signal(syscall.SIGCONT)
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit = %v, want %d\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr lacks 'interrupted':\n%s", stderr.String())
	}
	if got := describePath(out); got != "missing" {
		t.Errorf("output after interrupt: %s", got)
	}
	if staging() {
		t.Error("staging directory left behind")
	}
	return true
}
