package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// Defaults of Options.
const (
	DefaultTimeout        = 15 * time.Minute
	DefaultConcurrency    = 4
	DefaultConnectTimeout = 15 * time.Second
	DefaultMaxClockSkew   = 5 * time.Minute
	// RecordPath is where deploy records, on the host, what it uploaded
	// and how it installed k0s; --reset removes what it lists.
	RecordPath = "/var/lib/edgeimg/deploy.json"
	// PartSuffix names an upload in progress next to its destination.
	PartSuffix = ".edgeimg-part"
)

// Host is one SSH target.
type Host struct {
	Address string
	Port    int
	User    string
	// KeyPath is a private key; empty means the SSH agent and the
	// identities from ~/.ssh/config and ~/.ssh.
	KeyPath string
	// Sudo runs privileged commands with sudo (or doas) when User is not root.
	Sudo bool
}

// String is user@address:port.
func (h Host) String() string {
	return h.User + "@" + net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
}

// Options configure a deploy or a reset.
type Options struct {
	// Payload is the sealed set of files for the node.
	Payload *payload.Payload
	// InstallArgs are the flags after "k0s install controller"; --single
	// and --config (when the payload has k0spath.Config) are added when
	// missing.
	InstallArgs []string
	// K0sVersion is the version of the payload's k0s binary; a host with
	// a newer k0s is refused (no downgrades).
	K0sVersion string
	// K0sBinary is the node path of k0s in the payload (k0spath.Binary).
	K0sBinary string
	// DataDir is k0s's data dir on the node (k0spath.DataDir); stacks are
	// the payload's directories under <DataDir>/manifests.
	DataDir string
	// StagedDir holds the staged stacks (bundle.StagedDir); the wait
	// phase waits for them to be promoted and applied too.
	StagedDir string
	// Arch is the payload's architecture as a GOARCH (amd64, arm64, arm).
	// Empty means taken from the k0s binary's ELF header.
	Arch string
	// Memory is the node memory the stack is fitted to (spec.node.memory),
	// in bytes; a host with clearly less fails preflight. 0 skips the check.
	Memory int64
	// Units are systemd units from the payload enabled and started after
	// k0s; nil means every *.service under /etc/systemd/system in the payload.
	Units []string
	// Root prefixes every node path on the host, for tests and for
	// staging into a mounted root. It needs UploadOnly: installing and
	// starting k0s drive the host's own service manager.
	Root string
	// UploadOnly stops after the upload: nothing is installed or started.
	UploadOnly bool
	// Timeout bounds the wait for the node and the stacks (DefaultTimeout).
	Timeout time.Duration
	// Concurrency is how many hosts run at once (DefaultConcurrency).
	Concurrency int
	// DryRun connects and reads, and reports what each phase would change.
	DryRun bool
	// AcceptNewHostKey records unknown host keys in known_hosts instead of
	// refusing them. A changed key is refused regardless.
	AcceptNewHostKey bool
	// KnownHosts is the known_hosts file; empty means ssh_config's
	// UserKnownHostsFile, by default ~/.ssh/known_hosts.
	KnownHosts string
	// ConnectTimeout bounds the TCP connect and key exchange.
	ConnectTimeout time.Duration
	// MaxClockSkew is the largest difference between the host's clock and
	// this machine's that preflight accepts (DefaultMaxClockSkew).
	MaxClockSkew time.Duration
	// Log receives the phase log, one line per event, prefixed per host.
	Log io.Writer
	// Debug adds timings and per-file details to the log.
	Debug bool
	// IgnoreSysinfo goes on when k0s sysinfo rejects the host.
	IgnoreSysinfo bool
	// AllowCgroupV1 is set when the payload's kubelet runs with
	// failCgroupV1: false (the spec's worker profile opts out): preflight
	// then lets a cgroup v1 host through for Kubernetes 1.35 and later,
	// which it refuses otherwise.
	AllowCgroupV1 bool
	// Progress, when set, is called as file content is sent.
	Progress func(Progress)
}

// Progress reports the content sent for one file so far.
type Progress struct {
	Host string
	Path string
	// Sent counts this run's bytes of the file; Offset is where it resumed.
	Sent, Offset, Size int64
}

// Result is the outcome for one host.
type Result struct {
	Host Host
	// Err is nil on success.
	Err error
	// BytesSent counts file content sent over SSH (resumed files count
	// only what was sent this run).
	BytesSent int64
	// FilesSent, FilesResumed and FilesUnchanged count payload files.
	FilesSent, FilesResumed, FilesUnchanged int
	Duration                                time.Duration
	// DryRun marks a result of a dry run (nothing was changed).
	DryRun bool
}

// Deploy puts the payload on every host and, unless UploadOnly, installs
// and starts k0s there. It returns one result per host, in host order, and
// an error naming the hosts that failed.
func Deploy(ctx context.Context, hosts []Host, o Options) ([]Result, error) {
	if err := o.validate(true); err != nil {
		return nil, err
	}
	return runHosts(ctx, hosts, o, func(s *hostState) []phase.Phase {
		phases := []phase.Phase{&connectPhase{s}, &preflightPhase{s}, &uploadPhase{s: s}}
		if !o.UploadOnly {
			phases = append(phases, &installPhase{s}, &startPhase{s}, &waitPhase{s})
		}
		return phases
	})
}

// Reset stops and resets k0s on every host (k0s reset) and removes what
// deploy uploaded there (the files listed in the host's deploy record and
// those of the payload, when one is given). The caller asks for
// confirmation first.
func Reset(ctx context.Context, hosts []Host, o Options) ([]Result, error) {
	if err := o.validate(false); err != nil {
		return nil, err
	}
	return runHosts(ctx, hosts, o, func(s *hostState) []phase.Phase {
		s.reset = true
		return []phase.Phase{&connectPhase{s}, &resetPhase{s}}
	})
}

func (o *Options) validate(deploy bool) error {
	if o.K0sBinary == "" {
		o.K0sBinary = k0spath.Binary
	}
	if o.DataDir == "" {
		o.DataDir = k0spath.DataDir
	}
	if o.StagedDir == "" {
		o.StagedDir = bundle.StagedDir
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.Root != "" && (!path.IsAbs(o.Root) || path.Clean(o.Root) != o.Root || o.Root == "/") {
		return fmt.Errorf("root %q: expected a clean absolute path other than /", o.Root)
	}
	if o.Root != "" && deploy && !o.UploadOnly {
		return fmt.Errorf("root %s: installing k0s under a root prefix is not possible; use upload-only", o.Root)
	}
	if !deploy {
		return nil
	}
	if o.Payload == nil {
		return errors.New("deploy: no payload")
	}
	for i := range o.Payload.Files {
		f := &o.Payload.Files[i]
		if f.SHA256 == "" {
			return fmt.Errorf("payload %s: not sealed (no sha256)", f.Path)
		}
		if strings.ContainsAny(f.Path, "\n\r\t ") {
			return fmt.Errorf("payload %q: whitespace in a path is not supported over SSH", f.Path)
		}
		if strings.HasSuffix(f.Path, PartSuffix) || f.Path == RecordPath {
			return fmt.Errorf("payload %s: path reserved by deploy", f.Path)
		}
	}
	if len(o.Payload.Dirs) > 0 {
		for p := range o.Payload.Dirs {
			return fmt.Errorf("payload dir %s: deploy uploads files only (ship images as a bundle tar in %s/images)", p, o.DataDir)
		}
	}
	if !o.UploadOnly {
		if o.file(o.K0sBinary) == nil {
			return fmt.Errorf("payload: no k0s binary at %s", o.K0sBinary)
		}
		if o.K0sVersion == "" {
			return errors.New("deploy: the payload's k0s version is not set")
		}
		if o.file(k0spath.UnitPath) != nil {
			return fmt.Errorf("payload %s: deploy installs k0s with 'k0s install controller', which writes that unit; leave it out", k0spath.UnitPath)
		}
	}
	if o.Units == nil {
		o.Units = UnitsIn(o.Payload)
	}
	for _, u := range o.Units {
		if o.file("/etc/systemd/system/"+u) == nil {
			return fmt.Errorf("unit %s: not in the payload (expected /etc/systemd/system/%s)", u, u)
		}
	}
	return nil
}

// file returns the payload file at node path p, or nil.
func (o *Options) file(p string) *payload.File {
	if o.Payload == nil {
		return nil
	}
	for i := range o.Payload.Files {
		if o.Payload.Files[i].Path == p {
			return &o.Payload.Files[i]
		}
	}
	return nil
}

// UnitsIn lists the systemd services the payload installs under
// /etc/systemd/system.
func UnitsIn(p *payload.Payload) []string {
	units := []string{}
	for _, f := range p.Files {
		dir, name := path.Split(f.Path)
		if dir == "/etc/systemd/system/" && strings.HasSuffix(name, ".service") {
			units = append(units, name)
		}
	}
	return units
}

// hostState is what the phases of one host share.
type hostState struct {
	host Host
	opts *Options
	log  *hostLog
	res  *Result
	kh   *sync.Mutex

	// reset skips hashing the payload's files on the host.
	reset bool
	r     *remote
	facts facts
	// changed are the node paths whose content or mode this run changed.
	changed map[string]bool
}

func runHosts(ctx context.Context, hosts []Host, o Options, phases func(*hostState) []phase.Phase) ([]Result, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts: set spec.deploy.hosts or pass --host")
	}
	results := make([]Result, len(hosts))
	var (
		wg     sync.WaitGroup
		logMu  sync.Mutex
		khMu   sync.Mutex
		tokens = make(chan struct{}, o.Concurrency)
	)
	for i, h := range hosts {
		if h.Port == 0 {
			h.Port = 22
		}
		if h.User == "" {
			h.User = "root"
		}
		results[i] = Result{Host: h, DryRun: o.DryRun}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				results[i].Err = fmt.Errorf("%s: %w", h, ctx.Err())
				return
			}
			defer func() { <-tokens }()
			s := &hostState{
				host:    h,
				opts:    &o,
				log:     &hostLog{mu: &logMu, w: o.Log, prefix: "[" + h.String() + "] ", debug: o.Debug},
				res:     &results[i],
				kh:      &khMu,
				changed: map[string]bool{},
			}
			start := time.Now()
			err := runPhases(ctx, s, phases(s))
			results[i].Duration = time.Since(start)
			if err != nil {
				results[i].Err = fmt.Errorf("%s: %w", h, err)
				s.log.printf("FAILED: %v", err)
			}
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	if len(errs) > 0 {
		return results, fmt.Errorf("%d of %d hosts failed:\n%w", len(errs), len(results), errors.Join(errs...))
	}
	return results, nil
}

// runPhases runs one host's phases (pkg/phase): under a dry run the
// phases that only read run as usual and the others say what they would
// change. It returns the failing phase's error after its title in lower
// case ("preflight: ..."), or the context's error when the run was
// cancelled between phases.
func runPhases(ctx context.Context, s *hostState, phases []phase.Phase) error {
	m := &phase.Manager{DryRun: s.opts.DryRun, Reporter: phaseLog{s.log}}
	m.Add(phases...)
	err := m.Run(ctx)
	var pe *phase.Error
	switch {
	case !errors.As(err, &pe):
		return err
	case m.FirstError() == nil:
		return pe.Err
	default:
		return fmt.Errorf("%s: %w", lowerFirst(pe.Phase), pe.Err)
	}
}
