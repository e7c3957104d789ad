package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/edgeimg/edgeimg/internal/tailbuf"
	"github.com/k0sproject/rig"
	"golang.org/x/crypto/ssh"
)

// remote runs shell scripts on a connected host: privileged (through
// rig's sudo/doas wrapper unless the user is root), without a pty, with
// stdin streamed and stdout/stderr kept apart.
type remote struct {
	conn *rig.Connection
	// root prefixes node paths (Options.Root).
	root string
	// sudo wraps commands with rig's sudo/doas (a no-op for root).
	sudo bool
}

// exitError is a remote command that ran and exited non-zero.
type exitError struct {
	status int
	stderr string
}

func (e *exitError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return fmt.Sprintf("exit status %d: %s", e.status, e.stderr)
}

// exitStatus returns the status of a remote command that exited, or -1.
func exitStatus(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.status
	}
	return -1
}

// path maps a node path to the path on the host.
func (r *remote) path(p string) string {
	if r.root == "" {
		return p
	}
	return r.root + p
}

// run runs script with sh, args as $1..., with sudo when the host has it.
// Stdout is returned.
func (r *remote) run(ctx context.Context, script string, args []string, stdin io.Reader) (string, error) {
	var out bytes.Buffer
	err := r.stream(ctx, script, args, stdin, &out)
	return out.String(), err
}

// stream is run with stdout written to w.
func (r *remote) stream(ctx context.Context, script string, args []string, stdin io.Reader, w io.Writer) error {
	cmd := "sh -c " + shellescape.Quote(script) + " sh"
	for _, a := range args {
		cmd += " " + shellescape.Quote(a)
	}
	if r.sudo {
		var err error
		if cmd, err = r.conn.Sudo(cmd); err != nil {
			return err
		}
	}
	var in io.ReadCloser
	if stdin != nil {
		in = io.NopCloser(stdin)
	}
	stderr := tailbuf.New(4096)
	waiter, err := r.conn.ExecStreams(cmd, in, w, stderr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		if c, ok := waiter.(io.Closer); ok {
			c.Close()
		}
	})
	err = waiter.Wait()
	stop()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return &exitError{status: ee.ExitStatus(), stderr: strings.TrimSpace(stderr.String())}
		}
		return fmt.Errorf("%w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// k0s runs the payload's k0s binary with args and returns its stdout.
func (r *remote) k0s(ctx context.Context, o *Options, args ...string) (string, error) {
	out, err := r.run(ctx, `exec "$@"`, append([]string{r.path(o.K0sBinary)}, args...), nil)
	if err != nil {
		return out, fmt.Errorf("k0s %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// parentDirs lists the directories above node paths, outermost first,
// without "/".
func parentDirs(paths []string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, p := range paths {
		var chain []string
		for d := path.Dir(p); d != "/" && d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			dirs = append(dirs, chain[i])
		}
	}
	return dirs
}
