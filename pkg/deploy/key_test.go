package deploy

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestCheckKey: each way a private key cannot be used gets its own
// message, all wrapping ErrKey; a good key passes.
func TestCheckKey(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "me")
	if err != nil {
		t.Fatal(err)
	}
	plain := pem.EncodeToMemory(block)
	block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "me", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	protected := pem.EncodeToMemory(block)
	signer, _ := ssh.NewSignerFromKey(priv)
	pub := ssh.MarshalAuthorizedKey(signer.PublicKey())

	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	tests := []struct {
		name  string
		path  string
		agent bool
		want  string // "" accepted
	}{
		{"good", write("id_ed25519", plain, 0o600), false, ""},
		{"read-only good", write("id_ro", plain, 0o400), false, ""},
		{"missing", filepath.Join(dir, "nowhere"), false, "no such file"},
		{"group readable", write("id_group", plain, 0o640), false, "permissions 0640 are too open"},
		{"world readable", write("id_world", plain, 0o644), false, "permissions 0644 are too open"},
		{"public key", write("id_ed25519.pub", pub, 0o600), false, "a public key: expected the private key (" + filepath.Join(dir, "id_ed25519") + ")"},
		{"passphrase", write("id_pass", protected, 0o600), false, "protected by a passphrase"},
		{"passphrase with an agent", write("id_pass2", protected, 0o600), true, ""},
		{"not a key", write("id_junk", []byte("hello\n"), 0o600), false, "not an SSH private key"},
		{"a directory", dir, false, "not a regular file"},
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			name  string
			path  string
			agent bool
			want  string
		}{"unreadable", write("id_none", plain, 0o000), false, "cannot be read"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.agent {
				t.Setenv("SSH_AUTH_SOCK", filepath.Join(dir, "agent.sock"))
			} else {
				t.Setenv("SSH_AUTH_SOCK", "")
			}
			err := checkKey(tt.path)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("checkKey = %v, want ErrKey with %q naming %s", err, tt.want, tt.path)
			}
		})
	}
}
