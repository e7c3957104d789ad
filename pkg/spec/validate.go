package spec

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	k0sVersionRe = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\+k0s\.\d+$`)
	releaseRe    = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	k0sEnvNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	registryRe   = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:\d+)?$`)
	envNameRe    = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	kubeMinor    = regexp.MustCompile(`^1\.[0-9]{1,2}$`) // a Kubernetes minor: 1.33
	packageRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?(=[A-Za-z0-9.+~:-]+)?$`)
	platformRe   = regexp.MustCompile(`^linux/(amd64|arm64|arm)(/v[5-8])?$`)
)

// Validate checks the whole spec and returns every problem found, each
// naming the field and the expected form.
func (d *Document) Validate() error {
	v := &validator{}
	s := &d.Spec
	if !dnsLabel.MatchString(d.Metadata.Name) {
		v.add("metadata.name", "%q: expected lowercase letters, digits and '-' (at most 63)", d.Metadata.Name)
	}
	if s.Board == "" {
		v.add("spec.board", "empty: expected a board name such as x86_64-efi")
	}
	if v.cpu("spec.node.cpu", s.Node.CPU) {
		v.positive("spec.node.cpu", s.Node.CPU, 100, "at least 100m")
	}
	if v.memory("spec.node.memory", s.Node.Memory) && s.Node.Memory.Value() < 256<<20 {
		v.add("spec.node.memory", "%s: expected at least 256Mi", s.Node.Memory)
	}
	v.memory("spec.node.evictionHard", s.Node.EvictionHard)
	v.cpu("spec.node.reserved.cpu", s.Node.Reserved.CPU)
	v.memory("spec.node.reserved.memory", s.Node.Reserved.Memory)
	v.cpu("spec.resources.headroom.cpu", s.Resources.Headroom.CPU)
	v.memory("spec.resources.headroom.memory", s.Resources.Headroom.Memory)
	if sz := s.Disk.Size; sz.IsSet() && sz.Cmp(maxDisk) > 0 {
		v.add("spec.disk.size", "%s: expected at most %s", sz, maxDisk)
	}
	if r := s.Node.Reserved.CPU; r.IsSet() && r.MilliValue() >= s.Node.CPU.MilliValue() {
		v.add("spec.node.reserved.cpu", "%s: expected less than the node's CPU (%s)", r, s.Node.CPU)
	}
	if r := s.Node.Reserved.Memory; r.IsSet() && r.Value()+s.Node.EvictionHard.Value() >= s.Node.Memory.Value() {
		v.add("spec.node.reserved.memory", "%s: expected less than the node's memory (%s) minus evictionHard (%s)", r, s.Node.Memory, s.Node.EvictionHard)
	}
	if s.Node.MaxPods < 0 || s.Node.MaxPods > 1000 {
		v.add("spec.node.maxPods", "%d: expected 0 (kubelet default) to 1000", s.Node.MaxPods)
	}
	if !k0sVersionRe.MatchString(s.K0s.Version) {
		v.add("spec.k0s.version", "%q: expected a k0s release such as %s", s.K0s.Version, DefaultK0sVersion)
	}
	if s.K0s.Network != NetworkKubeRouter && s.K0s.Network != NetworkBridge {
		v.add("spec.k0s.network", "%q: expected %s or %s", s.K0s.Network, NetworkKubeRouter, NetworkBridge)
	}
	for i, c := range s.K0s.DisableComponents {
		if !dnsLabel.MatchString(c) {
			v.add(fmt.Sprintf("spec.k0s.disableComponents[%d]", i), "%q: expected a k0s component name such as metrics-server", c)
		}
	}
	for name, val := range s.K0s.Env {
		if !k0sEnvNameRe.MatchString(name) {
			v.add("spec.k0s.env."+name, "expected a variable name of letters, digits and '_' (a component prefix such as KUBE-APISERVER_ may hold '-')")
		} else if strings.ContainsAny(val, "\"\\\n\r") {
			v.add("spec.k0s.env."+name, "%q: expected a value without quotes, backslashes or line breaks", val)
		}
	}
	v.release("spec.knative.version", s.Knative.Version, DefaultKnativeVersion)
	v.release("spec.kourier.version", s.Kourier.Version, DefaultKourierVersion)
	v.release("spec.metallb.version", s.MetalLB.Version, DefaultMetalLBVersion)
	if m := s.Knative.KubernetesMinVersion; m != "" && !kubeMinor.MatchString(m) {
		v.add("spec.knative.kubernetesMinVersion", "%q: expected a Kubernetes minor such as 1.33", m)
	}
	if s.Knative.Domain != "" && !dnsSubdomain.MatchString(s.Knative.Domain) {
		v.add("spec.knative.domain", "%q: expected a DNS domain such as example.com", s.Knative.Domain)
	}
	v.addresses(s.MetalLB.Addresses)
	switch s.Resources.Strategy {
	case StrategyFit, StrategyNone:
	case StrategyScale:
		if s.Resources.Factor <= 0 || s.Resources.Factor > 4 {
			v.add("spec.resources.factor", "%g: expected a number above 0 and at most 4 (0.5 halves every request and limit)", s.Resources.Factor)
		}
	default:
		v.add("spec.resources.strategy", "%q: expected fit, scale or none", s.Resources.Strategy)
	}
	v.services(s.Services)
	v.images(&s.Images)
	switch s.OS.Suite {
	case "trixie", "bookworm":
	default:
		v.add("spec.os.suite", "%q: expected trixie or bookworm", s.OS.Suite)
	}
	if u, err := url.Parse(s.OS.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
		v.add("spec.os.mirror", "%q: expected an http(s):// or file:// URL of a Debian mirror", s.OS.Mirror)
	}
	for i, p := range s.OS.Packages {
		if !packageRe.MatchString(p) {
			v.add(fmt.Sprintf("spec.os.packages[%d]", i), "%q: expected a Debian package name (optionally =version)", p)
		}
	}
	if !dnsLabel.MatchString(s.OS.Hostname) {
		v.add("spec.os.hostname", "%q: expected a host name (lowercase letters, digits, '-')", s.OS.Hostname)
	}
	for i, k := range s.SSH.AuthorizedKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			v.add(fmt.Sprintf("spec.ssh.authorizedKeys[%d]", i), "not an SSH public key: expected an authorized_keys line such as 'ssh-ed25519 AAAA... user@host'")
		}
	}
	if len(s.SSH.AuthorizedKeys) > 0 && !s.SSH.Enabled {
		v.add("spec.ssh.enabled", "false while authorizedKeys are given: set enabled: true to install OpenSSH")
	}
	if sz := s.Disk.Size; sz.IsSet() && sz.Value() < 512<<20 {
		v.add("spec.disk.size", "%s: expected at least 512Mi", sz)
	}
	for i, f := range s.Output.Formats {
		if !slices.Contains(Formats, f) {
			v.add(fmt.Sprintf("spec.output.formats[%d]", i), "%q: expected one of %s", f, strings.Join(Formats, ", "))
		}
	}
	v.deploy(&s.Deploy)
	return v.err()
}

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) positive(field string, q Quantity, minMilli int64, want string) {
	if !q.IsSet() || q.MilliValue() < minMilli {
		v.add(field, "%q: expected %s", q.String(), want)
	}
}

func (v *validator) release(field, ver, example string) {
	if !releaseRe.MatchString(ver) {
		v.add(field, "%q: expected a release version such as %s", ver, example)
	}
}

func (v *validator) addresses(addrs []string) {
	var ranges []AddressRange
	for i, a := range addrs {
		field := fmt.Sprintf("spec.metallb.addresses[%d]", i)
		r, err := ParsePoolRange(a)
		if err != nil {
			v.add(field, "%s", err.Error())
			continue
		}
		for j, o := range ranges {
			if r.Overlaps(o) {
				v.add(field, "%q overlaps spec.metallb.addresses[%d] %q: expected disjoint ranges", a, j, o.Text)
			}
		}
		ranges = append(ranges, r)
	}
}

// checkReference does the cheap syntactic check of an image reference; the
// airgap step parses it fully.
func checkReference(ref string) error {
	if ref == "" {
		return errors.New("empty: expected an image reference such as ghcr.io/knative/helloworld-go:latest")
	}
	if strings.ContainsAny(ref, " \t\n") || strings.HasPrefix(ref, "ko://") {
		return fmt.Errorf("%q: expected an image reference such as ghcr.io/knative/helloworld-go:latest", ref)
	}
	return nil
}

func (v *validator) images(im *Images) {
	if im.Platform != "" && !platformRe.MatchString(im.Platform) {
		v.add("spec.images.platform", "%q: expected linux/amd64, linux/arm64 or linux/arm/v7", im.Platform)
	}
	for i, e := range im.Extra {
		if err := checkReference(e); err != nil {
			v.add(fmt.Sprintf("spec.images.extra[%d]", i), "%s", err.Error())
		}
	}
	for from, to := range im.Replace {
		if from == "" || checkReference(to) != nil {
			v.add("spec.images.replace."+from, "%q: expected FROM=TO, both image reference prefixes", to)
		}
	}
	for reg, mirror := range im.Mirrors {
		if !registryRe.MatchString(reg) || !registryRe.MatchString(mirror) {
			v.add("spec.images.mirrors."+reg, "%q: expected REGISTRY=MIRROR, both host[:port]", mirror)
		}
	}
	for i, r := range im.InsecureRegistries {
		if !registryRe.MatchString(r) {
			v.add(fmt.Sprintf("spec.images.insecureRegistries[%d]", i), "%q: expected host[:port]", r)
		}
	}
}

func (v *validator) deploy(d *Deploy) {
	if d.Concurrency < 1 {
		v.add("spec.deploy.concurrency", "%d: expected at least 1", d.Concurrency)
	}
	if t, err := time.ParseDuration(d.Timeout); err != nil || t <= 0 {
		v.add("spec.deploy.timeout", "%q: expected a duration such as 15m", d.Timeout)
	}
	for i, h := range d.Hosts {
		f := fmt.Sprintf("spec.deploy.hosts[%d]", i)
		if h.Address == "" || strings.ContainsAny(h.Address, " /@") {
			v.add(f+".address", "%q: expected a host name or IP address", h.Address)
		}
		if h.Port < 1 || h.Port > 65535 {
			v.add(f+".port", "%d: expected 1-65535", h.Port)
		}
		if h.User == "" {
			v.add(f+".user", "empty: expected a user name")
		}
	}
}

// The largest quantities a spec may hold: beyond any edge node, and far
// from where int64 bytes or millicores overflow.
var (
	maxCPU    = MustQuantity("1024")
	maxMemory = MustQuantity("16Ti")
	maxDisk   = MustQuantity("64Ti")
)

// cpu checks a CPU quantity's upper bound; it reports whether q is in range.
func (v *validator) cpu(field string, q Quantity) bool {
	if q.IsSet() && q.Cmp(maxCPU) > 0 {
		v.add(field, "%s: expected at most %s CPUs", q, maxCPU)
		return false
	}
	return true
}

// memory checks a memory quantity's upper bound; it reports whether q is
// in range.
func (v *validator) memory(field string, q Quantity) bool {
	if q.IsSet() && q.Cmp(maxMemory) > 0 {
		v.add(field, "%s: expected at most %s", q, maxMemory)
		return false
	}
	return true
}
