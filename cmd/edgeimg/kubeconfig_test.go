package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
)

// TestKubeconfigCommand fetches a file laid out like a node's admin.conf
// through a real sshd: stdout by default, -o FILE with mode 0600, an
// existing FILE kept without --force; bad flags name the flag.
func TestKubeconfigCommand(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	s := sshd.Start(t, sshd.Options{})
	dataDir := filepath.Join(t.TempDir(), "k0s")
	if err := os.MkdirAll(filepath.Join(dataDir, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	admin := "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://localhost:6443\n    certificate-authority-data: Q0EK\n" +
		"contexts:\n- name: Default\n  context: {cluster: local, user: user}\ncurrent-context: Default\n" +
		"users:\n- name: user\n  user: {client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}\n"
	if err := os.WriteFile(filepath.Join(dataDir, "pki", "admin.conf"), []byte(admin), 0o600); err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(t.TempDir(), "edgeimg.yaml")
	if err := os.WriteFile(specFile, []byte("apiVersion: edgeimg.io/v1alpha1\nkind: Image\nmetadata:\n  name: lab-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := "root@" + net.JoinHostPort(s.Addr, strconv.Itoa(s.Port))
	base := []string{"edgeimg", "kubeconfig", "-f", specFile, "--data-dir", dataDir, "--known-hosts", s.KnownHosts}
	run := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = &out, &errOut
		err := app.Run(append(append([]string{}, base...), args...))
		return out.String(), errOut.String(), err
	}

	out, _, err := run("--host", target, "--ssh-key", s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load([]byte(out))
	if err != nil {
		t.Fatalf("stdout is no kubeconfig: %v\n%s", err, out)
	}
	if cl := cfg.Clusters["lab-1"]; cfg.CurrentContext != "lab-1" || cl == nil || cl.Server != "https://127.0.0.1:6443" {
		t.Errorf("current context %q, clusters %v; want lab-1 at https://127.0.0.1:6443", cfg.CurrentContext, cfg.Clusters)
	}

	file := filepath.Join(t.TempDir(), "lab-1.kubeconfig")
	if _, _, err := run("--host", target, "--ssh-key", s.ClientKey, "-o", file); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("-o %s: %v, mode %v; want 0600", file, err, st.Mode())
	}
	written, _ := os.ReadFile(file)
	if string(written) != out {
		t.Errorf("-o wrote %q, stdout had %q", written, out)
	}
	if _, _, err := run("--host", target, "--ssh-key", s.ClientKey, "-o", file, "--server", "https://edge.lan:16443"); err == nil || !strings.Contains(err.Error(), "exists; pass --force") {
		t.Errorf("over an existing file without --force: err = %v", err)
	}
	if _, _, err := run("--host", target, "--ssh-key", s.ClientKey, "-o", file, "--force", "--server", "https://edge.lan:16443"); err != nil {
		t.Fatal(err)
	}
	if cfg, err := clientcmd.LoadFromFile(file); err != nil || cfg.Clusters["lab-1"].Server != "https://edge.lan:16443" {
		t.Errorf("after --force --server: %v %+v", err, cfg)
	}

	// An unknown host: refused, then recorded with --accept-new-host-key.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if _, _, err := run("--host", target, "--ssh-key", s.ClientKey, "--known-hosts", kh); err == nil || !strings.Contains(err.Error(), "host key is not in known_hosts") {
		t.Errorf("unknown host key: err = %v", err)
	}
	_, stderr, err := run("--host", target, "--ssh-key", s.ClientKey, "--known-hosts", kh, "--accept-new-host-key")
	if err != nil || !strings.Contains(stderr, "recorded new host key") {
		t.Errorf("--accept-new-host-key: err = %v, stderr:\n%s", err, stderr)
	}
	if _, _, err := run("--host", target, "--ssh-key", s.ClientKey, "--known-hosts", kh); err != nil {
		t.Errorf("the recorded key: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no host: pass --host"},
		{[]string{"--host", "root@fd00::1:22"}, "--host: host \"root@fd00::1:22\": an IPv6 address must be in brackets"},
		{[]string{"--host", target, "--ssh-key", s.ClientKey, "--force"}, "--force: only with -o FILE"},
		{[]string{"--sudo"}, "--sudo: only with --host"},
		{[]string{"--ssh-key", s.ClientKey}, "--ssh-key: only with --host"},
		{[]string{"--host", target, "--ssh-key", s.ClientKey, "--server", "http://x:1"}, "--server \"http://x:1\": expected https://HOST[:PORT]"},
		{[]string{"--host", target, "--ssh-key", s.ClientKey, "--data-dir", "/nonexistent/k0s"}, "no /nonexistent/k0s/pki/admin.conf on the host"},
	} {
		_, _, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("edgeimg kubeconfig %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
