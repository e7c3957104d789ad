package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/deploy"
)

// adminConf is laid out as k0s writes <data-dir>/pki/admin.conf (the
// certificates shortened: nothing here parses them).
const adminConf = `apiVersion: v1
clusters:
- cluster:
    server: https://localhost:6443
    certificate-authority-data: Q0EK
  name: local
contexts:
- context:
    cluster: local
    namespace: default
    user: user
  name: Default
current-context: Default
kind: Config
preferences: {}
users:
- name: user
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
`

// TestReadKubeconfig reads a node's admin.conf through a real sshd with
// deploy's connection rules: the file's bytes arrive unchanged from the
// data dir, a missing file or a wrong data dir is a clear error, and an
// unknown host key is refused before anything is read.
func TestReadKubeconfig(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/k0s/pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/k0s/pki/admin.conf"), []byte(adminConf), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyKnownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(emptyKnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		dataDir    string
		knownHosts string
		want       string // error substring; "" for success
		wantErr    error
	}{
		{name: "admin.conf", knownHosts: s.KnownHosts},
		{name: "other data dir", dataDir: "/data/k0s", knownHosts: s.KnownHosts, want: "no /data/k0s/pki/admin.conf on the host: k0s is not installed there"},
		{name: "unknown host key", knownHosts: emptyKnownHosts, wantErr: deploy.ErrUnknownHostKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &logWriter{t: t}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := deploy.Options{Root: root, DataDir: tc.dataDir, KnownHosts: tc.knownHosts, Log: log}
			data, reached, err := deploy.ReadKubeconfig(ctx, hostOf(s), o)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(log.String(), "Read the admin kubeconfig") {
					t.Errorf("the kubeconfig phase ran after the host key was refused:\n%s", log)
				}
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to say %q", err, tc.want)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, []byte(adminConf)) {
					t.Errorf("read %q, want the node's file %q", data, adminConf)
				}
				if reached != s.Addr {
					t.Errorf("reached %q, want %q", reached, s.Addr)
				}
			}
		})
	}
}
