package deploy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/k0sproject/rig"

	"github.com/edgeimg/edgeimg/pkg/phase"
)

// AdminKubeconfig is k0s's admin kubeconfig, relative to its data dir.
const AdminKubeconfig = "pki/admin.conf"

// ReadKubeconfig reads k0s's admin kubeconfig (<DataDir>/pki/admin.conf)
// from h over SSH: the connection, the host key check against known_hosts
// and sudo are those of Deploy, with the same Options (KnownHosts,
// AcceptNewHostKey, ConnectTimeout, Root, DataDir, Log). It returns the
// file as the node has it and the address the connection reached (the
// host's address, or the HostName ssh_config gives it), for the caller to
// point the kubeconfig's server at.
func ReadKubeconfig(ctx context.Context, h Host, o Options) (data []byte, reached string, err error) {
	if err := o.validate(false); err != nil {
		return nil, "", err
	}
	if h.Port == 0 {
		h.Port = 22
	}
	if h.User == "" {
		h.User = "root"
	}
	var logMu, khMu sync.Mutex
	s := &hostState{
		host:    h,
		opts:    &o,
		log:     &hostLog{mu: &logMu, w: o.Log, prefix: "[" + h.String() + "] ", debug: o.Debug},
		res:     &Result{Host: h},
		kh:      &khMu,
		reset:   true, // nothing of a payload is hashed on the host
		changed: map[string]bool{},
	}
	kp := &kubeconfigPhase{s: s}
	if err := runPhases(ctx, s, []phase.Phase{&connectPhase{s}, kp}); err != nil {
		return nil, "", fmt.Errorf("%s: %w", h, err)
	}
	return kp.data, ReachedAddress(h), nil
}

// ReachedAddress is the address an SSH connection to h goes to: h.Address,
// or the HostName ssh_config sets for it.
func ReachedAddress(h Host) string {
	sshc := &rig.SSH{Address: h.Address, Port: h.Port, User: h.User}
	sshc.SetDefaults()
	if sshc.Address == "" {
		return h.Address
	}
	return sshc.Address
}

// kubeconfigPhase reads the admin kubeconfig on a connected host.
type kubeconfigPhase struct {
	s    *hostState
	data []byte
}

func (p *kubeconfigPhase) Title() string { return "Read the admin kubeconfig" }

// ReadOnly marks the phase as one that only reads.
func (p *kubeconfigPhase) ReadOnly() {}

// readScript prints $1, or exits 3 when it is not there, 4 when it is not
// a regular file.
const readScript = `[ -e "$1" ] || exit 3
[ -f "$1" ] || exit 4
exec cat -- "$1"`

func (p *kubeconfigPhase) Run(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	file := path.Join(o.DataDir, AdminKubeconfig)
	out, err := r.run(ctx, readScript, []string{r.path(file)}, nil)
	switch exitStatus(err) {
	case -1, 0:
	case 3:
		what := "k0s is not installed there"
		switch {
		case s.facts.K0s.Running:
			what = "k0s runs there, with another data dir? (--data-dir)"
		case s.facts.K0s.Service != "":
			what = "k0s is installed there but not running; start it (or edgeimg deploy) and retry"
		case s.facts.K0s.Present:
			what = "k0s is there but not installed as a controller (edgeimg deploy installs it)"
		}
		return fmt.Errorf("no %s on the host: %s", file, what)
	case 4:
		return fmt.Errorf("%s on the host is not a regular file", file)
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) && !s.host.Sudo && s.facts.UID != 0 {
			return fmt.Errorf("read %s as %s (uid %d): %w; it is readable by root only: use --sudo (or sudo: true in spec.deploy.hosts)", file, s.host.User, s.facts.UID, err)
		}
		return fmt.Errorf("read %s: %w", file, err)
	}
	if strings.TrimSpace(out) == "" {
		return fmt.Errorf("%s on the host is empty: k0s has not finished writing it; retry once the node is up", file)
	}
	p.data = []byte(out)
	s.log.printf("read %s (%d bytes)", file, len(out))
	return nil
}
