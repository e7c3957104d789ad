package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k0sproject/rig"
	"github.com/mattn/go-shellwords"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Host key errors. A changed key is always refused; an unknown one unless
// Options.AcceptNewHostKey is set.
var (
	ErrUnknownHostKey = errors.New("host key is not in known_hosts")
	ErrHostKeyChanged = errors.New("HOST KEY HAS CHANGED")
)

// Why edgeimg checks host keys itself: rig v0.21.0's SSH client appends
// unknown keys to known_hosts without asking, turns checking off when
// SSH_KNOWN_HOSTS is empty or ssh_config says StrictHostKeyChecking no, and
// offers no host key callback of its own. So every host is first probed
// (key exchange only, no authentication), the key it presents is checked
// against known_hosts here, and rig then connects with that exact key
// pinned (rig.SSH.HostKey), which it compares on its own handshake.

// knownHosts says where host keys are read from and recorded.
type knownHosts struct {
	// files are read; record appends to the first one.
	files []string
	// global are the system-wide files, read only.
	global []string
	hash   bool
	// mu serializes appends from hosts deployed in parallel.
	mu *sync.Mutex
}

// knownHostsFor resolves the known_hosts files for an ssh_config host:
// explicit (Options.KnownHosts) or UserKnownHostsFile, then the global
// files. StrictHostKeyChecking in ssh_config is deliberately not consulted.
func knownHostsFor(alias, explicit string, mu *sync.Mutex) (knownHosts, error) {
	kh := knownHosts{mu: mu}
	kh.hash = firstConfig(alias, "HashKnownHosts") == "yes"
	user := explicit
	if user == "" {
		user = strings.Join(rig.SSHConfigGetAll(alias, "UserKnownHostsFile"), " ")
	}
	if strings.TrimSpace(user) == "" {
		user = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
	}
	files, err := shellwords.Parse(user)
	if err != nil {
		return kh, fmt.Errorf("known_hosts files %q: %w", user, err)
	}
	for _, f := range files {
		p, err := expandHome(f)
		if err != nil {
			return kh, err
		}
		kh.files = append(kh.files, p)
	}
	global := strings.Join(rig.SSHConfigGetAll(alias, "GlobalKnownHostsFile"), " ")
	if strings.TrimSpace(global) == "" {
		global = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"
	}
	if kh.global, err = shellwords.Parse(global); err != nil {
		return kh, fmt.Errorf("global known_hosts files %q: %w", global, err)
	}
	return kh, nil
}

func firstConfig(alias, key string) string {
	if v := rig.SSHConfigGetAll(alias, key); len(v) > 0 {
		return strings.ToLower(strings.TrimSpace(v[0]))
	}
	return ""
}

func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %s: %w", p, err)
		}
		return filepath.Join(home, p[1:]), nil
	}
	return p, nil
}

// callback returns a knownhosts callback over the files that exist, or nil
// when none does (every host is unknown).
func (kh knownHosts) callback() (ssh.HostKeyCallback, error) {
	var existing []string
	for _, f := range append(append([]string{}, kh.files...), kh.global...) {
		if f == "/dev/null" {
			continue
		}
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			existing = append(existing, f)
		}
	}
	if len(existing) == 0 {
		return nil, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	return cb, nil
}

// record appends a key for addr (host:port) to the user's known_hosts.
func (kh knownHosts) record(addr string, key ssh.PublicKey) (string, error) {
	if len(kh.files) == 0 {
		return "", errors.New("no known_hosts file to record the key in")
	}
	path := kh.files[0]
	entry := knownhosts.Normalize(addr)
	if kh.hash {
		entry = knownhosts.HashHostname(entry)
	}
	line := knownhosts.Line([]string{entry}, key) + "\n"
	kh.mu.Lock()
	defer kh.mu.Unlock()
	if path != "/dev/null" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("record host key: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("record host key: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return "", fmt.Errorf("record host key in %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("record host key in %s: %w", path, err)
	}
	return path, nil
}

// hostKeyCheck is the outcome of verifyHostKey: the key to pin and what
// happened, for the log.
type hostKeyCheck struct {
	key  ssh.PublicKey
	note string
}

// verifyHostKey probes addr (host:port) and checks the key it presents
// against known_hosts. Unknown keys are refused unless acceptNew, then
// recorded (not in a dry run: the key is only pinned for this run).
func verifyHostKey(ctx context.Context, addr, user string, kh knownHosts, acceptNew, dryRun bool, timeout time.Duration) (hostKeyCheck, error) {
	key, remote, err := probeHostKey(ctx, addr, user, nil, timeout)
	if err != nil {
		return hostKeyCheck{}, err
	}
	cb, err := kh.callback()
	if err != nil {
		return hostKeyCheck{}, err
	}
	var keyErr *knownhosts.KeyError
	if cb != nil {
		err = cb(addr, remote, key)
		if err == nil {
			return hostKeyCheck{key: key, note: fmt.Sprintf("host key %s %s matches known_hosts", key.Type(), ssh.FingerprintSHA256(key))}, nil
		}
		var revoked *knownhosts.RevokedError
		if errors.As(err, &revoked) {
			return hostKeyCheck{}, fmt.Errorf("%s: host key %s is revoked in %s:%d", addr, ssh.FingerprintSHA256(key), revoked.Revoked.Filename, revoked.Revoked.Line)
		}
		if !errors.As(err, &keyErr) {
			return hostKeyCheck{}, fmt.Errorf("%s: check host key: %w", addr, err)
		}
	}
	fp := ssh.FingerprintSHA256(key)
	if keyErr == nil || len(keyErr.Want) == 0 {
		if !acceptNew {
			return hostKeyCheck{}, fmt.Errorf("%s: %w (%s %s); check the fingerprint and rerun with --accept-new-host-key to record it, or add it to %s yourself",
				addr, ErrUnknownHostKey, key.Type(), fp, strings.Join(kh.files, " or "))
		}
		return acceptKey(addr, key, kh, dryRun, "new host key")
	}
	var known []string
	for _, w := range keyErr.Want {
		if w.Key.Type() == key.Type() {
			return hostKeyCheck{}, fmt.Errorf("%s: %w: it presents %s %s but %s:%d has %s; someone may be intercepting the connection, or the host was reinstalled. Remove the old line only once you know which",
				addr, ErrHostKeyChanged, key.Type(), fp, w.Filename, w.Line, ssh.FingerprintSHA256(w.Key))
		}
		known = append(known, w.Key.Type())
	}
	// known_hosts has keys for the host, but only of other types than the
	// one negotiated by default (rig offers no way to prefer the known
	// types). Prove the host holds a known key first.
	key2, remote2, err := probeHostKey(ctx, addr, user, algorithmsFor(known), timeout)
	if err != nil {
		return hostKeyCheck{}, err
	}
	if err := cb(addr, remote2, key2); err != nil {
		return hostKeyCheck{}, fmt.Errorf("%s: %w: it presents %s %s which does not match %s; someone may be intercepting the connection, or the host was reinstalled",
			addr, ErrHostKeyChanged, key2.Type(), ssh.FingerprintSHA256(key2), knownLines(keyErr.Want))
	}
	if !acceptNew {
		host, port, _ := net.SplitHostPort(addr)
		return hostKeyCheck{}, fmt.Errorf("%s: %w for type %s: known_hosts has its %s key (which matches), but the SSH library negotiates %s first (%s); rerun with --accept-new-host-key to record it too, or add it yourself (ssh-keyscan -p %s -t %s %s)",
			addr, ErrUnknownHostKey, key.Type(), strings.Join(known, ", "), key.Type(), fp, port, keyscanType(key.Type()), host)
	}
	return acceptKey(addr, key, kh, dryRun, "additional host key, the host proved its known "+key2.Type()+" key:")
}

func acceptKey(addr string, key ssh.PublicKey, kh knownHosts, dryRun bool, what string) (hostKeyCheck, error) {
	fp := ssh.FingerprintSHA256(key)
	if dryRun {
		return hostKeyCheck{key: key, note: fmt.Sprintf("dry run: would record %s %s %s (pinned for this run only)", what, key.Type(), fp)}, nil
	}
	path, err := kh.record(addr, key)
	if err != nil {
		return hostKeyCheck{}, fmt.Errorf("%s: %w", addr, err)
	}
	return hostKeyCheck{key: key, note: fmt.Sprintf("recorded %s %s %s in %s", what, key.Type(), fp, path)}, nil
}

// keyscanType is ssh-keyscan's -t name for a key type.
func keyscanType(t string) string {
	switch {
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	case t == ssh.KeyAlgoED25519:
		return "ed25519"
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	default:
		return t
	}
}

// algorithmsFor maps key types to the host key algorithms that select them.
func algorithmsFor(types []string) []string {
	var algos []string
	for _, t := range types {
		switch t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

func knownLines(want []knownhosts.KnownKey) string {
	var lines []string
	for _, w := range want {
		lines = append(lines, fmt.Sprintf("%s:%d (%s)", w.Filename, w.Line, w.Key.Type()))
	}
	return strings.Join(lines, ", ")
}

var errProbeDone = errors.New("host key received")

// probeHostKey runs a key exchange with addr and returns the host key it
// presents, without authenticating.
func probeHostKey(ctx context.Context, addr, user string, algos []string, timeout time.Duration) (ssh.PublicKey, net.Addr, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	var key ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              user,
		HostKeyAlgorithms: algos,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errProbeDone
		},
	}
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if key == nil {
		return nil, nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
	}
	return key, conn.RemoteAddr(), nil
}

// pinnedKey is the form rig.SSH.HostKey compares against.
func pinnedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
