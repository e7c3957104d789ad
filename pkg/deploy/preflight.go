package deploy

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/k0sproject/version"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// Disk the install needs beyond the payload on the data dir's file system:
// k0s unpacks its binaries and keeps its state there, and containerd
// imports the image bundle into its content store and unpacks the layers.
const (
	k0sDataHeadroom    = 1 << 30
	imagesImportFactor = 2
)

// preflightPhase checks the host can take the payload before anything is
// changed.
type preflightPhase struct{ s *hostState }

func (p *preflightPhase) Title() string { return "Preflight" }

// ReadOnly marks the phase as one that runs under a dry run too.
func (p *preflightPhase) ReadOnly() {}

type finding struct {
	fail bool
	msg  string
}

func (p *preflightPhase) Run(context.Context) error {
	s := p.s
	var failed []string
	for _, f := range p.checks() {
		if f.fail {
			s.log.printf("  FAIL %s", f.msg)
			failed = append(failed, f.msg)
		} else {
			s.log.printf("  ok   %s", f.msg)
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func (p *preflightPhase) checks() []finding {
	s := p.s
	o, f := s.opts, &s.facts
	var out []finding
	add := func(fail bool, format string, args ...any) {
		out = append(out, finding{fail: fail, msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case f.UID == 0:
	case o.Root != "" && !s.host.Sudo:
		add(false, "user %s writes under %s without sudo", s.host.User, o.Root)
	case !s.host.Sudo:
		add(true, "user %s is not root: set sudo (spec.deploy.hosts[].sudo, --sudo) for passwordless sudo or doas", s.host.User)
	default:
		add(false, "user %s uses sudo", s.host.User)
	}

	want, wantFrom, err := payloadArch(o)
	switch {
	case err != nil:
		add(true, "architecture: %v", err)
	case want == "":
		add(true, "architecture: the payload's is unknown (set it; the k0s binary is not an ELF file)")
	case want != f.Arch:
		add(true, "architecture: host is %s (%s), the payload is %s (%s)", f.Arch, f.Machine, want, wantFrom)
	default:
		add(false, "architecture %s matches the payload", f.Arch)
	}

	for _, d := range p.diskNeeds() {
		if d.need > d.avail {
			add(true, "disk: %s needs %s free on %s, %s available", d.what, mib(d.need), d.mount, mib(d.avail))
		} else {
			add(false, "disk: %s needs %s on %s, %s available", d.what, mib(d.need), d.mount, mib(d.avail))
		}
	}

	if o.Memory > 0 {
		// MemTotal excludes what the kernel reserves: allow 10%.
		if f.MemTotal < o.Memory*9/10 {
			add(true, "memory: host has %s, the stack is fitted to %s (spec.node.memory); set it to the host's and rebuild", mib(f.MemTotal), mib(o.Memory))
		} else {
			add(false, "memory: host has %s, the stack is fitted to %s", mib(f.MemTotal), mib(o.Memory))
		}
	}

	p.linkChecks(add)
	if !o.UploadOnly {
		p.k0sChecks(add)
	}

	skew := f.ClockSkew
	if skew < 0 {
		skew = -skew
	}
	if skew > o.MaxClockSkew {
		add(true, "clock: host is %s off this machine (more than %s); k0s issues its certificates from the host clock: set it (date -s, or NTP) first", f.ClockSkew.Round(time.Second), o.MaxClockSkew)
	} else {
		add(false, "clock: %s off this machine", f.ClockSkew.Round(time.Millisecond))
	}
	return out
}

// k0sChecks are the checks that matter only when k0s is installed.
func (p *preflightPhase) k0sChecks(add func(bool, string, ...any)) {
	s := p.s
	o, f := s.opts, &s.facts
	switch f.Init {
	case "systemd", "openrc":
		add(false, "init system %s", f.Init)
	default:
		add(true, "init system: k0s needs systemd or openrc to run as a service, found none")
	}
	if len(o.Units) > 0 && f.Init != "systemd" {
		add(true, "the payload's units (%s) need systemd, host init is %s", strings.Join(o.Units, ", "), f.Init)
	}
	// k0s needs overlayfs for containerd; the netfilter modules are
	// loaded by k0s and kube-proxy/kube-router on demand.
	var missing, unknown []string
	for _, m := range slices.Sorted(maps.Keys(f.Modules)) {
		switch f.Modules[m] {
		case "missing":
			missing = append(missing, m)
		case "unknown":
			unknown = append(unknown, m)
		}
	}
	switch {
	case f.Modules["overlay"] == "missing":
		add(true, "kernel module overlay is not available (containerd needs overlayfs)")
	case len(missing) > 0:
		add(false, "kernel modules not available: %s (k0s sysinfo decides at install)", strings.Join(missing, ", "))
	case len(unknown) > 0:
		add(false, "kernel modules: no module tree for the running kernel, k0s sysinfo checks at install")
	default:
		add(false, "kernel modules overlay, br_netfilter, nf_conntrack, veth, ip_tables available")
	}
	if f.Iptables != "" {
		add(false, "iptables: %s", f.Iptables)
	} else {
		add(false, "iptables: not installed on the host (k0s ships its own)")
	}
	if msg, fail := checkK0sVersion(f.K0s, o.K0sVersion, p.payloadK0sOnHost()); msg != "" {
		add(fail, "%s", msg)
	}
	msg, fail := checkCgroup(f.CgroupFS, o.K0sVersion, o.AllowCgroupV1)
	add(fail, "%s", msg)
}

// payloadK0sOnHost says whether the k0s binary on the host is the
// payload's, byte for byte (an earlier deploy uploaded it, possibly one
// interrupted before the install).
func (p *preflightPhase) payloadK0sOnHost() bool {
	o, f := p.s.opts, &p.s.facts
	for i, pf := range o.Payload.Files {
		if pf.Path == o.K0sBinary {
			return i < len(f.Files) && f.Files[i].SHA256 == pf.SHA256
		}
	}
	return false
}

// checkK0sVersion compares the installed k0s with the payload's: the same
// or older is fine (update in place, upgrade), newer is a downgrade.
// samePayload is set when the binary on the host is the payload's: no
// downgrade whatever version it reports (a k0s built from source reports
// its own, e.g. v1.33.9-dev, not spec.k0s.version), unless another
// version of k0s is running.
func checkK0sVersion(k k0sFacts, payloadVersion string, samePayload bool) (string, bool) {
	installed := k.Version
	if installed == "" {
		installed = k.RunningVersion
	}
	switch {
	case !k.Present && k.Service == "":
		return "k0s: not installed, will install " + payloadVersion, false
	case samePayload && k.Present && (!k.Running || k.RunningVersion == k.Version):
		return fmt.Sprintf("k0s: the binary on the host is the payload's (reports %s), from an earlier deploy", installed), false
	case installed == "":
		return fmt.Sprintf("k0s: the installed binary reports no version (%s); it will be replaced by %s", k.VersionErr, payloadVersion), false
	}
	have, err := version.NewVersion(installed)
	if err != nil {
		return fmt.Sprintf("k0s: installed version %q is not a k0s release; it will be replaced by %s", installed, payloadVersion), false
	}
	want, err := version.NewVersion(payloadVersion)
	if err != nil {
		return fmt.Sprintf("k0s: payload version %q: %v", payloadVersion, err), true
	}
	switch c := have.Compare(want); {
	case c > 0:
		return fmt.Sprintf("k0s: refusing to downgrade from %s (installed) to %s (payload); reset the host (edgeimg deploy --reset) or build with k0s %s", have, want, have), true
	case c == 0:
		return fmt.Sprintf("k0s %s installed, same as the payload: update in place", have), false
	default:
		return fmt.Sprintf("k0s: upgrade from %s to %s", have, want), false
	}
}

// payloadArch returns the payload's GOARCH: Options.Arch, checked against
// the k0s binary's ELF header when it is one.
func payloadArch(o *Options) (arch, from string, err error) {
	elfArch := ""
	if f := o.file(o.K0sBinary); f != nil && f.Source != "" {
		bin, err := os.Open(f.Source)
		if err != nil {
			return "", "", fmt.Errorf("payload %s: %w", o.K0sBinary, err)
		}
		defer bin.Close()
		// Not an ELF file: the architecture is unknown, not an error.
		if ef, err := elf.NewFile(bin); err == nil {
			elfArch = elfGoarch(ef.Machine)
		}
	}
	switch {
	case o.Arch != "" && elfArch != "" && o.Arch != elfArch:
		return "", "", fmt.Errorf("payload is for %s but its k0s binary %s is %s", o.Arch, o.K0sBinary, elfArch)
	case o.Arch != "":
		return o.Arch, "spec", nil
	default:
		return elfArch, "k0s binary", nil
	}
}

func elfGoarch(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	default:
		return m.String()
	}
}

type diskNeed struct {
	mount       string
	what        string
	need, avail int64
}

// diskNeeds sums, per file system, the bytes still to send (and for the
// data dir's, what k0s and the image import need). k0s's headroom counts
// when k0s is not installed as a service yet or its binary changes, the
// import's when the image files change or k0s has not imported them yet:
// a redeploy that sends nothing needs no room (on a small device, one that
// did would be refused for space it does not use).
func (p *preflightPhase) diskNeeds() []diskNeed {
	s := p.s
	o, f := s.opts, &s.facts
	byDir := map[string]dirState{}
	for _, d := range f.Dirs {
		byDir[d.Path] = d
	}
	needs := map[string]*diskNeed{}
	get := func(dir string) *diskNeed {
		d := byDir[dir]
		n := needs[d.Mount]
		if n == nil {
			n = &diskNeed{mount: d.Mount, avail: d.Avail, what: "payload"}
			needs[d.Mount] = n
		}
		return n
	}
	fresh := f.K0s.Service == ""
	var images int64
	k0sChanged := false
	for i, pf := range o.Payload.Files {
		st := f.Files[i]
		same := st.SHA256 == pf.SHA256
		if strings.HasPrefix(pf.Path, k0spath.Images(o.DataDir)+"/") && (fresh || !same) {
			images += pf.Size
		}
		if same {
			continue
		}
		k0sChanged = k0sChanged || pf.Path == o.K0sBinary
		n := pf.Size
		if st.Part > 0 && st.Part <= pf.Size {
			n -= st.Part
		}
		get(path.Dir(pf.Path)).need += n
	}
	if !o.UploadOnly {
		n := get(o.DataDir)
		if fresh || k0sChanged {
			n.need += k0sDataHeadroom
		}
		n.need += imagesImportFactor * images
		n.what = "payload and k0s data"
	}
	var list []diskNeed
	for _, n := range needs {
		if n.need > 0 {
			list = append(list, *n)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].mount < list[j].mount })
	return list
}
