package qemu

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Booted is a VM that reached its milestones, with an SSH session to it.
type Booted struct {
	VM *VM
	// Milestones is, per name, the time since the VM started at which
	// the serial log first matched its pattern.
	Milestones map[string]time.Duration
	// Client is logged in; it is closed when the test ends.
	Client *ssh.Client

	t testing.TB
}

// Boot starts a VM (Start; cfg.SerialLog defaults to a file in the test's
// temp dir), waits until the serial log has matched every milestone, and
// logs in over SSH as user with auth, all within ctx. A step that fails
// fails the test.
func Boot(ctx context.Context, t testing.TB, cfg Config, milestones map[string]*regexp.Regexp, user string, auth ...ssh.AuthMethod) *Booted {
	t.Helper()
	if cfg.SerialLog == "" {
		cfg.SerialLog = filepath.Join(t.TempDir(), "serial.log")
	}
	vm := Start(t, cfg)
	ms, err := vm.Milestones(ctx, milestones)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vm.SSH(ctx, user, auth...)
	if err != nil {
		t.Fatalf("ssh as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Booted{VM: vm, Milestones: ms, Client: c, t: t}
}

// Run runs cmd on the VM and returns its combined output without the
// surrounding white space; an error fails the test.
func (b *Booted) Run(cmd string) string {
	b.t.Helper()
	out, err := SSHRun(b.Client, cmd)
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
