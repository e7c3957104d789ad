package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
)

func TestDeployCommand(t *testing.T) {
	// Nothing from the user's ~/.ssh or agent.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	s := sshd.Start(t, sshd.Options{})

	tree := t.TempDir()
	files := map[string]string{
		"usr/local/bin/k0s":                     "#!/bin/sh\n# deploy command test stand-in, NOT k0s\nexit 64\n",
		"etc/k0s/k0s.yaml":                      "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\n",
		"var/lib/k0s/manifests/demo/demo.yaml":  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
		"var/lib/k0s/images/edgeimg-bundle.tar": strings.Repeat("layer", 1<<20),
	}
	for p, content := range files {
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	target := "root@" + net.JoinHostPort(s.Addr, strconv.Itoa(s.Port))
	base := []string{"edgeimg", "deploy", "--payload", tree, "--root", root, "--ssh-key", s.ClientKey, "--known-hosts", s.KnownHosts}

	run := func(input string, args ...string) (string, error) {
		var out bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter, app.Reader = &out, &out, strings.NewReader(input)
		err := app.Run(append(append([]string{}, base...), args...))
		t.Logf("edgeimg %s:\n%s", strings.Join(args, " "), out.String())
		return out.String(), err
	}

	out, err := run("", "--host", target)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if !strings.Contains(out, "4/0/0") {
		t.Errorf("summary does not show 4 files sent:\n%s", out)
	}
	for p, content := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != content {
			t.Errorf("%s on the host: %v", p, err)
		}
	}

	// A host that cannot be reached fails the command; the other is done.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	out, err = run("", "--host", target, "--host", "root@"+dead)
	if err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("deploy with a dead host: error %v, want one naming %s", err, dead)
	}
	if !strings.Contains(out, "0/0/4") || !strings.Contains(out, "FAILED") {
		t.Errorf("summary:\n%s", out)
	}

	// --reset asks first.
	if _, err := run("no\n", "--host", target, "--reset"); err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("reset answered no: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/k0s/k0s.yaml")); err != nil {
		t.Errorf("reset answered no removed files: %v", err)
	}
	if _, err := run("", "--host", target, "--reset", "--yes"); err != nil {
		t.Fatalf("reset: %v", err)
	}
	left, _ := os.ReadDir(root)
	if len(left) != 0 {
		t.Errorf("reset left %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reset left etc: %v", err)
	}
}
