package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/k0sproject/rig"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// facts is what the connect phase learns about a host.
type facts struct {
	OS       string
	Arch     string // as a GOARCH
	Machine  string // uname -m
	Kernel   string
	Init     string // systemd, openrc or unknown
	UID      int
	MemTotal int64
	Iptables string
	// Modules maps kernel module names to loaded, builtin, available,
	// missing or unknown (no module tree to look in).
	Modules   map[string]string
	ClockSkew time.Duration
	// CgroupFS is the file system type of /sys/fs/cgroup: cgroup2fs
	// (cgroup v2), tmpfs (cgroup v1 or hybrid), "" when unknown.
	CgroupFS string

	K0s k0sFacts
	// Files is the state of each payload file on the host, in payload order.
	Files []fileState
	// Links is the state of each payload link on the host, in payload
	// order.
	Links []linkState
	// Dirs are the payload's parent directories with whether they exist
	// and the free space of their file system.
	Dirs []dirState
	// Record is the deploy record a previous run left, or nil.
	Record *record
}

type k0sFacts struct {
	// Present is set when the k0s binary exists on the host.
	Present bool
	// Version is what it reports; empty if it does not run.
	Version string
	// VersionErr says why the version could not be read.
	VersionErr string
	// Service is the k0s service file, if k0s is installed as a service.
	Service string
	// Running is set when k0s status answers; RunningVersion is its version.
	Running        bool
	RunningVersion string
}

// fileState is one payload file on the host.
type fileState struct {
	SHA256 string // empty when the file does not exist
	Mode   string // octal permissions
	Size   int64
	// Part is the size of <path>.edgeimg-part, or -1.
	Part int64
}

type dirState struct {
	Path   string // node path
	Exists bool
	Avail  int64
	Mount  string
}

// connectPhase checks the host key, connects through rig and gathers facts.
type connectPhase struct{ s *hostState }

func (p *connectPhase) Title() string { return "Connect and gather facts" }

func (p *connectPhase) Run(ctx context.Context) error {
	s := p.s
	h, o := s.host, s.opts
	sshc := &rig.SSH{Address: h.Address, Port: h.Port, User: h.User}
	if h.KeyPath != "" {
		if err := checkKey(h.KeyPath); err != nil {
			return err
		}
		kp := h.KeyPath
		sshc.KeyPath = &kp
	}
	// Resolves HostName, Port and IdentityFile from ~/.ssh/config.
	sshc.SetDefaults()
	addr := net.JoinHostPort(sshc.Address, strconv.Itoa(sshc.Port))
	kh, err := knownHostsFor(h.Address, o.KnownHosts, s.kh)
	if err != nil {
		return err
	}
	check, err := verifyHostKey(ctx, addr, h.User, kh, o.AcceptNewHostKey, o.DryRun, o.ConnectTimeout)
	if err != nil {
		return err
	}
	s.log.printf("%s", check.note)
	sshc.HostKey = pinnedKey(check.key)

	conn := &rig.Connection{SSH: sshc}
	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				conn.Disconnect()
			}
		}()
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("ssh %s@%s: %w", h.User, addr, err)
	}
	s.r = &remote{conn: conn, root: o.Root, sudo: h.Sudo}
	if err := p.gather(ctx); err != nil {
		return err
	}
	f := s.facts
	s.log.printf("%s, %s (%s), kernel %s, init %s, %s memory, clock skew %s", f.OS, f.Arch, f.Machine, f.Kernel, f.Init, mib(f.MemTotal), f.ClockSkew.Round(time.Millisecond))
	switch {
	case f.K0s.Running:
		s.log.printf("k0s %s installed (%s) and running", f.K0s.Version, f.K0s.Service)
	case f.K0s.Service != "":
		s.log.printf("k0s %s installed (%s), not running", f.K0s.Version, f.K0s.Service)
	case f.K0s.Present && f.K0s.Version != "":
		s.log.printf("k0s %s binary present, not installed as a service", f.K0s.Version)
	case f.K0s.Present:
		s.log.printf("%s present but reports no version (%s)", o.K0sBinary, f.K0s.VersionErr)
	default:
		s.log.printf("no k0s on the host")
	}
	return nil
}

// ReadOnly marks the phase as one that runs under a dry run too.
func (p *connectPhase) ReadOnly() {}

// Release closes the connection once every phase has run or one has failed.
func (p *connectPhase) Release(context.Context) {
	if p.s.r != nil {
		p.s.r.conn.Disconnect()
	}
}

// factsScript prints key=value lines. $1 is the root prefix, $2 the k0s path.
const factsScript = `root=$1 k0s=$2
echo "machine=$(uname -m)"
echo "kernel=$(uname -r)"
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo init=systemd
elif [ -x /sbin/openrc-run ] || [ -d /run/openrc ]; then echo init=openrc
else echo init=unknown; fi
awk '/^MemTotal:/ { printf "memtotal=%.0f\n", $2 * 1024 }' /proc/meminfo
if [ -r /etc/os-release ]; then (. /etc/os-release; echo "os=${PRETTY_NAME:-$NAME}"); fi
if command -v iptables >/dev/null 2>&1; then echo "iptables=$(iptables --version 2>&1 | head -n 1)"; fi
kdir=/lib/modules/$(uname -r)
for m in overlay br_netfilter nf_conntrack veth ip_tables; do
  if grep -q "^$m " /proc/modules 2>/dev/null || [ -d "/sys/module/$m" ]; then s=loaded
  elif [ -f "$kdir/modules.builtin" ] && grep -q "/$m\.ko" "$kdir/modules.builtin"; then s=builtin
  elif [ -f "$kdir/modules.dep" ] && grep -q "/$m\.ko" "$kdir/modules.dep"; then s=available
  elif [ -d "$kdir" ]; then s=missing
  else s=unknown; fi
  echo "module.$m=$s"
done
if [ -e "$root$k0s" ]; then
  echo k0s.present=1
  if v=$("$root$k0s" version 2>&1); then echo "k0s.version=$(echo "$v" | head -n 1)"
  else echo "k0s.versionerr=$(echo "$v" | head -n 1 | cut -c1-200)"; fi
fi
for f in ` + k0spath.UnitPath + ` /etc/init.d/k0scontroller; do
  if [ -e "$root$f" ]; then echo "k0s.service=$f"; break; fi
done
`

// stateScript reads "F path" and "D path" lines and answers one line each:
// F: sha256 mode size partsize ("-" for missing); D: exists avail-kib mount.
const stateScript = `while IFS= read -r line; do
  t=${line%% *}; p=${line#* }
  case $t in
  F)
    if [ -f "$p" ]; then
      s=$(sha256sum < "$p") || exit 1
      s=${s%% *}
      ms=$(stat -c '%a %s' -- "$p") || exit 1
    else s=- ms='- -'; fi
    if [ -f "$p.edgeimg-part" ]; then ps=$(stat -c %s -- "$p.edgeimg-part"); else ps=-; fi
    echo "$s $ms $ps";;
  D)
    if [ -d "$p" ]; then e=1; else e=0; fi
    d=$p
    while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
    echo "$e $(df -Pk -- "$d" | awk 'NR==2 { print $4, $6 }')";;
  esac
done
`

func (p *connectPhase) gather(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	f := &s.facts
	if v := r.conn.OSVersion; v != nil {
		f.OS = v.String()
	}
	out, err := r.run(ctx, factsScript, []string{o.Root, o.K0sBinary}, nil)
	if err != nil {
		return fmt.Errorf("gather facts: %w", err)
	}
	kv := map[string]string{}
	f.Modules = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if m, ok := strings.CutPrefix(k, "module."); ok {
			f.Modules[m] = v
			continue
		}
		kv[k] = v
	}
	f.Machine, f.Kernel, f.Init, f.Iptables = kv["machine"], kv["kernel"], kv["init"], kv["iptables"]
	f.Arch = goarch(f.Machine)
	if kv["os"] != "" {
		f.OS = kv["os"]
	}
	if f.UID, err = strconv.Atoi(kv["uid"]); err != nil {
		return fmt.Errorf("gather facts: uid %q: %w", kv["uid"], err)
	}
	if f.MemTotal, err = strconv.ParseInt(kv["memtotal"], 10, 64); err != nil {
		return fmt.Errorf("gather facts: MemTotal %q: %w", kv["memtotal"], err)
	}
	f.K0s = k0sFacts{Present: kv["k0s.present"] == "1", Version: strings.TrimSpace(kv["k0s.version"]), VersionErr: kv["k0s.versionerr"], Service: kv["k0s.service"]}
	if f.K0s.Service != "" && o.Root == "" && f.K0s.Present {
		// k0s status exits non-zero when k0s is not running; no exit
		// status at all is no answer from the host.
		st, err := r.k0s(ctx, o, "status", "-o", "json")
		if err != nil && exitStatus(err) < 0 {
			return fmt.Errorf("gather facts: %w", err)
		}
		var status struct{ Version string }
		if err == nil && json.Unmarshal([]byte(st), &status) == nil {
			f.K0s.Running, f.K0s.RunningVersion = true, status.Version
		}
	}
	f.CgroupFS = cgroupFS(ctx, r)
	if f.ClockSkew, err = clockSkew(ctx, r); err != nil {
		return err
	}
	if f.Record, err = readRecord(ctx, r); err != nil {
		return err
	}
	if err := p.fileStates(ctx); err != nil {
		return err
	}
	return p.linkStates(ctx)
}

// fileStates hashes every payload file already on the host.
func (p *connectPhase) fileStates(ctx context.Context) error {
	s := p.s
	o, r := s.opts, s.r
	if o.Payload == nil || s.reset {
		return nil
	}
	var in strings.Builder
	var paths []string
	for _, f := range o.Payload.Files {
		fmt.Fprintf(&in, "F %s\n", r.path(f.Path))
		paths = append(paths, f.Path)
	}
	// The record's and the data dir's directories too: the first is
	// created by deploy, the second's free space is checked.
	dirs := parentDirs(append(append([]string{}, paths...), RecordPath, k0spath.Manifests(o.DataDir)))
	for _, d := range dirs {
		fmt.Fprintf(&in, "D %s\n", r.path(d))
	}
	start := time.Now()
	out, err := r.run(ctx, stateScript, nil, strings.NewReader(in.String()))
	if err != nil {
		return fmt.Errorf("check payload files on the host: %w", err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(paths)+len(dirs) {
		return fmt.Errorf("check payload files on the host: %d answers for %d paths", len(lines), len(paths)+len(dirs))
	}
	s.facts.Files = make([]fileState, len(paths))
	for i, line := range lines[:len(paths)] {
		fs, err := parseFileState(line)
		if err != nil {
			return fmt.Errorf("check %s on the host: %w", paths[i], err)
		}
		s.facts.Files[i] = fs
	}
	s.facts.Dirs = make([]dirState, len(dirs))
	for i, line := range lines[len(paths):] {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) != 3 {
			return fmt.Errorf("check %s on the host: unexpected answer %q", dirs[i], line)
		}
		avail, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("check %s on the host: free space %q", dirs[i], fields[1])
		}
		s.facts.Dirs[i] = dirState{Path: dirs[i], Exists: fields[0] == "1", Avail: avail * 1024, Mount: fields[2]}
	}
	s.log.debugf("checked %d payload files on the host in %s", len(paths), time.Since(start).Round(time.Millisecond))
	return nil
}

func parseFileState(line string) (fileState, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return fileState{}, fmt.Errorf("unexpected answer %q", line)
	}
	st := fileState{Part: -1}
	if f[0] != "-" {
		st.SHA256, st.Mode = f[0], f[1]
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return st, fmt.Errorf("unexpected size %q", f[2])
		}
		st.Size = size
	}
	if f[3] != "-" {
		part, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return st, fmt.Errorf("unexpected partial size %q", f[3])
		}
		st.Part = part
	}
	return st, nil
}

// clockSkew is the host's clock minus this machine's. The host reads its
// clock at the end of the command's setup (session, login shell), just
// before answering, so it is compared with the time the answer arrives.
func clockSkew(ctx context.Context, r *remote) (time.Duration, error) {
	out, err := r.run(ctx, `date +%s%N`, nil, nil)
	t1 := time.Now()
	if err != nil {
		return 0, fmt.Errorf("read the host clock: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read the host clock: unexpected %q", strings.TrimSpace(out))
	}
	return time.Unix(0, ns).Sub(t1), nil
}

// goarch maps uname -m to a GOARCH.
func goarch(machine string) string {
	switch machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "armv8l":
		return "arm64"
	case "armv7l", "armv6l", "armhf":
		return "arm"
	case "riscv64":
		return "riscv64"
	default:
		return machine
	}
}

func mib(b int64) string {
	return fmt.Sprintf("%d MiB", b>>20)
}
