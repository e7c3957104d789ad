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

// Version is the containerd k0s embeds, built by
// hack/build-containerd.sh.
const Version = "1.7.30"

// BinDir is where hack/build-containerd.sh puts containerd,
// containerd-shim-runc-v2 and ctr for this Go version.
func BinDir() string {
	return filepath.Join(testkit.CacheDir(), "build",
		"containerd-"+Version+"-go"+strings.TrimPrefix(runtime.Version(), "go"))
}

// Need returns the directory of the containerd binaries, after
// checking them, runc and root privileges; it skips the test (fails it
// under EDGEIMG_CI=1) when one is missing.
func Need(t testing.TB) string {
	t.Helper()
	dir := BinDir()
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		_, err := os.Stat(filepath.Join(dir, b))
		testkit.Require(t, err == nil, fmt.Sprintf("containerd %s is not built: run hack/build-containerd.sh (%s missing)", Version, filepath.Join(dir, b)))
	}
	_, err := exec.LookPath("runc")
	testkit.Require(t, err == nil, "runc not found: apt-get install runc")
	testkit.Require(t, os.Geteuid() == 0, "a containerd daemon needs root")
	return dir
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
}

// Start starts a containerd daemon and waits until it answers;
// it is stopped at the end of the test.
func Start(t testing.TB, opt Options) *Daemon {
	t.Helper()
	c, err := Launch(Need(t), opt)
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
	disabled := `["io.containerd.grpc.v1.cri"]`
	if opt.CRI {
		disabled = `[]`
	}
	for _, d := range []string{filepath.Join(dir, "cni", "net.d"), filepath.Join(dir, "cni", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// restrict_oom_score_adj: this sandbox has no CAP_SYS_RESOURCE, so
	// CRI must not lower oom_score_adj below the daemon's own.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = %s

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
  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    sandbox_image = "quay.io/k0sproject/pause:3.10.1"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %q
      conf_dir = %q
`, c.Root, c.State, disabled, c.Address, filepath.Join(dir, "opt"),
		filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "net.d"))
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
