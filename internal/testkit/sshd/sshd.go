package sshd

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit"
)

// Binary is Debian's OpenSSH server (package openssh-server).
const Binary = "/usr/sbin/sshd"

// Server is a real OpenSSH server started for one test, listening on a
// loopback port with throwaway host keys and one authorized client key.
type Server struct {
	Addr string
	Port int
	// User is the user the test logs in as: the one running the test.
	User string
	// ClientKey is a private key the server accepts.
	ClientKey string
	// KnownHosts is a known_hosts file with every host key of the server.
	KnownHosts string
	// HostKeys maps a key type (ssh-ed25519, ecdsa-sha2-nistp256, ...) to
	// the server's public key line ("type base64").
	HostKeys map[string]string
	// Log is sshd's log file.
	Log string

	dir string
	cmd *exec.Cmd
}

// Options configure Start.
type Options struct {
	// HostKeyTypes are ssh-keygen -t values; default ed25519.
	HostKeyTypes []string
}

// Start starts sshd -D with a config in a temp dir and stops it when
// the test ends. Without sshd or ssh-keygen the test is skipped, or fails
// when EDGEIMG_CI is set.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	_, err := os.Stat(Binary)
	testkit.Require(t, err == nil, "needs Debian's openssh-server ("+Binary+")")
	_, err = exec.LookPath("ssh-keygen")
	testkit.Require(t, err == nil, "needs ssh-keygen (openssh-client)")
	if len(o.HostKeyTypes) == 0 {
		o.HostKeyTypes = []string{"ed25519"}
	}
	dir := t.TempDir()
	s := &Server{Addr: "127.0.0.1", dir: dir, HostKeys: map[string]string{}, Log: filepath.Join(dir, "sshd.log")}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s.User = u.Username

	var hostKeyLines []string
	for _, typ := range o.HostKeyTypes {
		key := filepath.Join(dir, "ssh_host_"+typ+"_key")
		keygen(t, typ, key)
		pub := readPub(t, key+".pub")
		s.HostKeys[strings.Fields(pub)[0]] = pub
		hostKeyLines = append(hostKeyLines, "HostKey "+key)
	}
	s.ClientKey = filepath.Join(dir, "client_key")
	keygen(t, "ed25519", s.ClientKey)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(readPub(t, s.ClientKey+".pub")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := testkit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Port = port
		cfg := filepath.Join(dir, "sshd_config")
		conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
%s
AuthorizedKeysFile %s
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxSessions 100
MaxStartups 100
LogLevel VERBOSE
`, port, strings.Join(hostKeyLines, "\n"), filepath.Join(dir, "authorized_keys"))
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(Binary, "-D", "-f", cfg, "-E", s.Log)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitBanner(s.Addr, port, exited); lastErr == nil {
			s.cmd = cmd
			t.Cleanup(func() {
				// sshd and the per-connection children it forked.
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-exited
				}
				if t.Failed() {
					if log, err := os.ReadFile(s.Log); err == nil {
						t.Logf("sshd log:\n%s", log)
					}
				}
			})
			break
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if s.cmd == nil {
		log, _ := os.ReadFile(s.Log)
		t.Fatalf("sshd did not start: %v\n%s", lastErr, log)
	}

	s.KnownHosts = filepath.Join(dir, "known_hosts")
	var kh strings.Builder
	for _, typ := range slices.Sorted(maps.Keys(s.HostKeys)) {
		fmt.Fprintf(&kh, "%s %s\n", s.KnownHostsName(), s.HostKeys[typ])
	}
	if err := os.WriteFile(s.KnownHosts, []byte(kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// KnownHostsName is how known_hosts names the server: [127.0.0.1]:port.
func (s *Server) KnownHostsName() string {
	return "[" + s.Addr + "]:" + strconv.Itoa(s.Port)
}

// NewHostKey returns a public key line of a freshly generated key that is
// not the server's, for known_hosts files that must not match.
func NewHostKey(t testing.TB, typ string) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "other_"+typ)
	keygen(t, typ, key)
	return readPub(t, key+".pub")
}

func keygen(t testing.TB, typ, path string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "edgeimg-test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
	}
}

func readPub(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		t.Fatalf("%s: not a public key", path)
	}
	return f[0] + " " + f[1]
}

// waitBanner waits until the server sends its SSH banner.
func waitBanner(addr string, port int, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("sshd exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no SSH banner on %s:%d", addr, port)
}
