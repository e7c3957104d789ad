package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/cache"
)

// CIEnv is the environment variable that turns missing prerequisites from
// skips into failures.
const CIEnv = "EDGEIMG_CI"

// FixturesEnv overrides where the upstream fixtures are found.
const FixturesEnv = fixtures.Env

// CI reports whether EDGEIMG_CI is set to a true value ("" , "0" and
// "false" are false).
func CI() bool {
	switch strings.ToLower(os.Getenv(CIEnv)) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Require stops the test when cond is false: t.Skip with reason on a
// developer machine, t.Fatal when EDGEIMG_CI is set, so CI never passes a
// test that did not run.
func Require(t testing.TB, cond bool, reason string) {
	t.Helper()
	if cond {
		return
	}
	if CI() {
		t.Fatalf("missing prerequisite (%s is set, so this is a failure): %s", CIEnv, reason)
		return
	}
	t.Skipf("missing prerequisite: %s (set %s=1 to make this a failure)", reason, CIEnv)
}

// CacheDir is edgeimg's cache root: $EDGEIMG_CACHE, else the user cache dir
// plus "edgeimg" (the same root hack/build-bins.sh builds into).
func CacheDir() string { return cache.DefaultRoot() }

// ModuleRoot returns the directory holding the repository's go.mod, found by
// walking up from the test's working directory (its package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return root
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find module root: no go.mod in %s or any parent", dir)
		}
	}
}

// FixturesDir returns the upstream fixtures directory: $EDGEIMG_FIXTURES, else
// ../shared/fixtures/upstream relative to the module root. A missing
// directory is a missing prerequisite (see Require).
func FixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := fixturesDir()
	Require(t, err == nil, fmt.Sprint(err))
	return dir
}

func fixturesDir() (string, error) { return fixtures.Dir() }

// BuildScript is hack/build-bins.sh relative to the module root.
const BuildScript = "hack/build-bins.sh"

// Components hack/build-bins.sh builds; Binary accepts these names.
var buildBinsComponents = map[string]bool{
	"kube-apiserver": true, "kine": true, "kubelet": true, "kube-controller-manager": true,
	"kube-scheduler": true, "kube-proxy": true, "k0s": true,
}

// Binary returns the path of a binary hack/build-bins.sh builds (kine,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy, k0s), building it into the cache when it is not there yet (a
// cached binary is found in milliseconds). When it can be neither found nor
// built (no go, no module proxy), the test stops per Require.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if !buildBinsComponents[name] {
		t.Fatalf("testkit.Binary: %q is not built by %s", name, BuildScript)
		return ""
	}
	path, err := buildBins(ModuleRoot(t), name, t.Logf)
	Require(t, err == nil, fmt.Sprintf("binary %s: %v", name, err))
	return path
}

// buildBins runs the build script for one component and returns the path it
// prints.
func buildBins(root, name string, logf func(string, ...any)) (string, error) {
	script := filepath.Join(root, BuildScript)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("build script: %w", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%s needs the go command: %w", BuildScript, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script, name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "EDGEIMG_CACHE="+CacheDir())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", BuildScript, name, err, Tail(stderr.String(), 40))
	}
	if d := time.Since(start); d > 5*time.Second {
		logf("built %s in %s", name, d.Round(time.Second))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	path := lines[len(lines)-1]
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s %s printed %q, which is not an executable", BuildScript, name, path)
	}
	return path, nil
}

// Tail returns the last n lines of s: the end of a log for an error or a
// failed test's output.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NeedHostCommand requires a host command.
func NeedHostCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not found (apt-get install "+pkg+")")
	return p
}

// FreePort is a TCP port free on loopback right now. Another process can
// take it before the caller binds it: servers started on it retry.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// BuildStaticBinary compiles the main package in pkgDir (a directory, for
// example testdata/testimage) with CGO_ENABLED=0 into the test's temp dir.
func BuildStaticBinary(t testing.TB, pkgDir string) string {
	t.Helper()
	_, err := exec.LookPath("go")
	Require(t, err == nil, "go command not found")
	out := filepath.Join(t.TempDir(), filepath.Base(pkgDir))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkgDir, err, b)
	}
	return out
}
