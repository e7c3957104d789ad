//go:build e2evm

package e2evm

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// writeLoginKey makes an ed25519 key for the host's root login and writes
// its private half where deploy reads it (Host.KeyPath, mode 0600).
func writeLoginKey(t testing.TB) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "edgeimg-e2evm-deploy")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := writeFile(p, string(pem.EncodeToMemory(block)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, signer
}

func writeFile(p, data string, mode os.FileMode) error {
	return os.WriteFile(p, []byte(data), mode)
}

// stampLog writes deploy's log to the test's, a line at a time, each
// with the time since the host's power-on.
type stampLog struct {
	t     testing.TB
	start time.Time
	mu    sync.Mutex
	buf   []byte
}

func (l *stampLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.t.Logf("[+%7.1fs] %s", time.Since(l.start).Seconds(), l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(b), nil
}

// Printf writes one line.
func (l *stampLog) Printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}
