package ctrd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit"
)

// The containerd releases the k0s lines embed, built by
// hack/build-containerd.sh (CONTAINERD_VERSION, or K0S_LINE).
const (
	// Version is k0s 1.33's containerd (the 1.7 line: config version 2,
	// module github.com/containerd/containerd).
	Version = "1.7.30"
	// Version2 is k0s 1.36's containerd (the 2.x line: config version 3,
	// module github.com/containerd/containerd/v2, CRI split into the
	// io.containerd.cri.v1.images and io.containerd.cri.v1.runtime
	// plugins).
	Version2 = "2.3.3"
)

// BinDir is where hack/build-containerd.sh puts containerd,
// containerd-shim-runc-v2 and ctr of Version for this Go version.
func BinDir() string { return BinDirOf(Version) }

// BinDirOf is BinDir for a containerd version.
func BinDirOf(version string) string {
	return filepath.Join(testkit.CacheDir(), "build",
		"containerd-"+version+"-go"+strings.TrimPrefix(runtime.Version(), "go"))
}

// Need returns the directory of the containerd binaries of Version, after
// checking them, runc and root privileges; it skips the test (fails it
// under EDGEIMG_CI=1) when one is missing.
func Need(t testing.TB) string { return NeedVersion(t, Version) }

// NeedVersion is Need for a containerd version.
func NeedVersion(t testing.TB, version string) string {
	t.Helper()
	dir := BinDirOf(version)
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		_, err := os.Stat(filepath.Join(dir, b))
		testkit.Require(t, err == nil, fmt.Sprintf("containerd %s is not built: run CONTAINERD_VERSION=%s hack/build-containerd.sh (%s missing)", version, version, filepath.Join(dir, b)))
	}
	_, err := exec.LookPath("runc")
	testkit.Require(t, err == nil, "runc not found: apt-get install runc")
	testkit.Require(t, os.Geteuid() == 0, "a containerd daemon needs root")
	return dir
}

// MajorVersion runs `containerd --version` from bin and returns the
// release's major version (1 or 2), which decides the config version it
// reads (2 or 3) and its CRI plugins' IDs.
func MajorVersion(bin string) (int, error) {
	out, err := exec.Command(filepath.Join(bin, "containerd"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("containerd --version: %w", err)
	}
	// "containerd <module> v<version> <revision>"
	for _, f := range strings.Fields(string(out)) {
		if len(f) > 2 && f[0] == 'v' && f[1] >= '0' && f[1] <= '9' {
			switch f[1] {
			case '1':
				return 1, nil
			case '2':
				return 2, nil
			}
			return 0, fmt.Errorf("containerd --version: release %s: want 1.x or 2.x", f)
		}
	}
	return 0, fmt.Errorf("containerd --version: no version in %q", strings.TrimSpace(string(out)))
}

// Daemon is a containerd daemon started for a test, with its root,
// state and socket in a temporary directory.
type Daemon struct {
	Bin     string // directory of containerd, ctr, containerd-shim-runc-v2
	Dir     string // the temporary directory
	Root    string // containerd's root (content, metadata, snapshots)
	State   string
	Address string // the gRPC socket
	LogPath string
	Major   int // the release's major version (1 or 2)
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// Options configure Start.
type Options struct {
	// Root is an existing containerd root (a preloaded store) to start
	// on; empty means a new one.
	Root string
	// CRI enables the CRI plugin (off by default: faster start).
	CRI bool
	// Version is the containerd release Start runs (Version or Version2);
	// empty means Version.
	Version string
}

// Start starts a containerd daemon and waits until it answers;
// it is stopped at the end of the test.
func Start(t testing.TB, opt Options) *Daemon {
	t.Helper()
	v := opt.Version
	if v == "" {
		v = Version
	}
	c, err := Launch(NeedVersion(t, v), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
		if t.Failed() {
			t.Logf("containerd log (tail):\n%s", c.LogTail(40))
		}
		os.RemoveAll(c.Dir)
	})
	return c
}

// Launch starts a daemon from the binaries in bin and waits
// until it answers; the caller stops it. Benchmarks use it directly.
func Launch(bin string, opt Options) (*Daemon, error) {
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		return nil, err
	}
	c := &Daemon{
		Bin:     bin,
		Dir:     dir,
		Root:    filepath.Join(dir, "root"),
		State:   filepath.Join(dir, "state"),
		Address: filepath.Join(dir, "containerd.sock"),
		LogPath: filepath.Join(dir, "containerd.log"),
		done:    make(chan struct{}),
	}
	if opt.Root != "" {
		c.Root = opt.Root
	}
	for _, d := range []string{filepath.Join(dir, "cni", "net.d"), filepath.Join(dir, "cni", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if c.Major, err = MajorVersion(bin); err != nil {
		return nil, err
	}
	config := daemonConfig(c, opt.CRI)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(c.LogPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(filepath.Join(bin, "containerd"), "--config", cfgPath)
	c.cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	if err := c.WaitReady(30 * time.Second); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, c.LogTail(30))
	}
	return c, nil
}

// daemonConfig is the daemon's config.toml in the version its release
// reads: 2 for containerd 1.x, 3 for 2.x. restrict_oom_score_adj: this
// sandbox has no CAP_SYS_RESOURCE, so CRI must not lower oom_score_adj
// below the daemon's own. Without CRI, its plugins are disabled (a faster
// start).
func daemonConfig(c *Daemon, cri bool) string {
	common := fmt.Sprintf(`root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = ""

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
`, c.Root, c.State, c.Address, filepath.Join(c.Dir, "opt"))
	cniBin, cniConf := filepath.Join(c.Dir, "cni", "bin"), filepath.Join(c.Dir, "cni", "net.d")
	if c.Major == 1 {
		disabled := `["io.containerd.grpc.v1.cri"]`
		if cri {
			disabled = `[]`
		}
		return fmt.Sprintf("version = 2\ndisabled_plugins = %s\n", disabled) + common + fmt.Sprintf(`  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    sandbox_image = "quay.io/k0sproject/pause:3.10.1"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %q
      conf_dir = %q
`, cniBin, cniConf)
	}
	disabled := `["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]`
	if cri {
		disabled = `[]`
	}
	return fmt.Sprintf("version = 3\ndisabled_plugins = %s\n", disabled) + common + fmt.Sprintf(`  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "quay.io/k0sproject/pause:3.10.1"
  [plugins."io.containerd.cri.v1.runtime"]
    restrict_oom_score_adj = true
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = [%q]
      conf_dir = %q
`, cniBin, cniConf)
}

// WaitReady waits until the daemon answers on its socket.
func (c *Daemon) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.done:
			return fmt.Errorf("containerd exited: %v", c.waitErr)
		default:
		}
		if _, err := os.Stat(c.Address); err == nil {
			if _, err := c.Ctr("version"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd not ready after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ctr runs ctr against the daemon and returns its combined output.
func (c *Daemon) Ctr(args ...string) (string, error) {
	return c.CtrContext(context.Background(), args...)
}

// CtrStdin is Ctr with input.
func (c *Daemon) CtrStdin(stdin string, args ...string) (string, error) {
	return c.ctr(context.Background(), strings.NewReader(stdin), args...)
}

// CtrContext is Ctr with a context.
func (c *Daemon) CtrContext(ctx context.Context, args ...string) (string, error) {
	return c.ctr(ctx, nil, args...)
}

func (c *Daemon) ctr(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "ctr"), append([]string{"--address", c.Address}, args...)...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "PATH="+c.Bin+":"+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("ctr %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Stop stops the daemon: SIGTERM, then SIGKILL after 30 s.
func (c *Daemon) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("containerd did not stop on SIGTERM")
	}
	return nil
}

// LogTail is the end of the daemon's log.
func (c *Daemon) LogTail(lines int) string {
	data, _ := os.ReadFile(c.LogPath)
	return testkit.Tail(string(data), lines)
}

// BuildDir returns the directory with containerd and its runc shim:
// hack/build-containerd.sh's answer when the script is there, else its
// cache directory when complete.
func BuildDir(root string) (string, error) {
	script := filepath.Join(root, "hack", "build-containerd.sh")
	if _, err := os.Stat(script); err == nil {
		var out, errb bytes.Buffer
		cmd := exec.Command("bash", script, "-q")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, &out, &errb
		cmd.Env = append(os.Environ(), "EDGEIMG_CACHE="+testkit.CacheDir())
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", script, err, testkit.Tail(errb.String(), 20))
		}
		return strings.TrimSpace(out.String()), nil
	}
	gover := strings.TrimPrefix(runtime.Version(), "go")
	if v, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		gover = strings.TrimPrefix(strings.TrimSpace(string(v)), "go")
	}
	dir := filepath.Join(testkit.CacheDir(), "build", "containerd-"+Version+"-go"+gover)
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("no hack/build-containerd.sh and no cached build: %w", err)
		}
	}
	return dir, nil
}
