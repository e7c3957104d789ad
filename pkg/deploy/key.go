package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// ErrKey is wrapped by every error about the SSH private key given to
// deploy (--ssh-key, spec.deploy.hosts[].keyPath): each says what is wrong
// with it, where SSH itself would only say that no authentication method
// worked.
var ErrKey = errors.New("unusable SSH private key")

// checkKey checks the private key at path before any connection: it
// exists and is readable, is not readable by group or others when it is
// the user's own (OpenSSH refuses such a key: "UNPROTECTED PRIVATE KEY
// FILE"), is a private key and not a public one, and is not protected by
// a passphrase edgeimg cannot ask for (unless ssh-agent may hold it).
func checkKey(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("ssh key %s: no such file: %w", path, ErrKey)
	case err != nil:
		return fmt.Errorf("ssh key %s: %v: %w", path, err, ErrKey)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("ssh key %s: not a regular file: %w", path, ErrKey)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Getuid() && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("ssh key %s: permissions %04o are too open: a private key must not be accessible by group or others, as OpenSSH requires (chmod 600 %s): %w",
			path, fi.Mode().Perm(), path, ErrKey)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("ssh key %s: cannot be read by this user (permission denied): %w", path, ErrKey)
		}
		return fmt.Errorf("ssh key %s: %v: %w", path, err, ErrKey)
	}
	_, err = ssh.ParseRawPrivateKey(data)
	var pass *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pass):
		if os.Getenv("SSH_AUTH_SOCK") != "" {
			return nil // ssh-agent may hold it decrypted
		}
		return fmt.Errorf("ssh key %s: protected by a passphrase, which edgeimg cannot ask for: add it to ssh-agent (ssh-add %s) and run with SSH_AUTH_SOCK set: %w", path, path, ErrKey)
	case isPublicKey(data):
		return fmt.Errorf("ssh key %s: a public key: expected the private key (%s): %w", path, strings.TrimSuffix(path, ".pub"), ErrKey)
	default:
		return fmt.Errorf("ssh key %s: not an SSH private key (%v): %w", path, err, ErrKey)
	}
}

func isPublicKey(data []byte) bool {
	if _, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
		return true
	}
	return strings.HasPrefix(strings.TrimSpace(string(data)), "---- BEGIN SSH2 PUBLIC KEY")
}
