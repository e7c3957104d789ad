package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults filled in by ApplyDefaults for fields a spec leaves empty.
const (
	DefaultName              = "edge"
	DefaultBoard             = "x86_64-efi"
	DefaultK0sVersion        = "v1.33.8+k0s.1"
	DefaultKnativeVersion    = "1.23.0"
	DefaultKourierVersion    = "1.23.0"
	DefaultMetalLBVersion    = "v0.15.3"
	DefaultSuite             = "trixie"
	DefaultMirror            = "http://deb.debian.org/debian"
	DefaultServiceNamespace  = "default"
	DefaultDeployConcurrency = 4
	DefaultDeployTimeout     = "15m"
	DefaultSSHPort           = 22
	DefaultSSHUser           = "root"
	NetworkKubeRouter        = "kuberouter"
	NetworkBridge            = "bridge"
)

// Formats are the output formats 'edgeimg build' writes.
var Formats = []string{"raw", "img.zst", "img.xz", "qcow2", "vmdk", "vdi", "ova"}

// ApplyDefaults fills every field the spec leaves empty.
func (d *Document) ApplyDefaults() {
	if d.APIVersion == "" {
		d.APIVersion = APIVersion
	}
	if d.Kind == "" {
		d.Kind = Kind
	}
	if d.Metadata.Name == "" {
		d.Metadata.Name = DefaultName
	}
	s := &d.Spec
	setStr(&s.Board, DefaultBoard)
	setQty(&s.Node.CPU, "1")
	setQty(&s.Node.Memory, "1536Mi")
	setQty(&s.Node.EvictionHard, "100Mi")
	setStr(&s.K0s.Version, DefaultK0sVersion)
	setStr(&s.K0s.Network, NetworkKubeRouter)
	setStr(&s.Knative.Version, DefaultKnativeVersion)
	setStr(&s.Kourier.Version, DefaultKourierVersion)
	setStr(&s.MetalLB.Version, DefaultMetalLBVersion)
	if s.Resources.Strategy == "" {
		s.Resources.Strategy = StrategyFit
	}
	if s.Resources.Strategy == StrategyScale && s.Resources.Factor == 0 {
		s.Resources.Factor = 0.5
	}
	setQty(&s.Resources.Headroom.CPU, "100m")
	setQty(&s.Resources.Headroom.Memory, "128Mi")
	for i := range s.Services {
		setStr(&s.Services[i].Namespace, DefaultServiceNamespace)
	}
	setStr(&s.OS.Suite, DefaultSuite)
	setStr(&s.OS.Mirror, DefaultMirror)
	setStr(&s.OS.Hostname, d.Metadata.Name)
	if len(s.Output.Formats) == 0 {
		s.Output.Formats = []string{"raw"}
	}
	if s.Deploy.Concurrency == 0 {
		s.Deploy.Concurrency = DefaultDeployConcurrency
	}
	setStr(&s.Deploy.Timeout, DefaultDeployTimeout)
	for i := range s.Deploy.Hosts {
		h := &s.Deploy.Hosts[i]
		if h.Port == 0 {
			h.Port = DefaultSSHPort
		}
		setStr(&h.User, DefaultSSHUser)
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setQty(p *Quantity, v string) {
	if !p.IsSet() {
		*p = MustQuantity(v)
	}
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	k0sVersionRe = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\+k0s\.\d+$`)
	releaseRe    = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	k0sEnvNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	registryRe   = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:\d+)?$`)
	envNameRe    = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
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

// AddressRange is one MetalLB pool entry as a closed range of addresses.
type AddressRange struct {
	From, To netip.Addr
	Text     string
}

// ParseAddressRange accepts a CIDR (192.168.10.240/28), a range
// (192.168.10.240-192.168.10.250) or one address.
func ParseAddressRange(s string) (AddressRange, error) {
	const form = "expected a CIDR (192.168.10.240/28), a range (192.168.10.240-192.168.10.250) or one address"
	s = strings.TrimSpace(s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err1 != nil || err2 != nil {
			return AddressRange{}, fmt.Errorf("%q: %s", s, form)
		}
		if a.Is4() != b.Is4() {
			return AddressRange{}, fmt.Errorf("%q: both ends must be IPv4 or both IPv6", s)
		}
		if b.Less(a) {
			return AddressRange{}, fmt.Errorf("%q: the range ends before it starts", s)
		}
		return AddressRange{From: a, To: b, Text: s}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return AddressRange{}, fmt.Errorf("%q: %s", s, form)
		}
		if p.Masked() != p {
			return AddressRange{}, fmt.Errorf("%q: host bits set: expected the network address %s", s, p.Masked())
		}
		return AddressRange{From: p.Addr(), To: lastAddr(p), Text: s}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return AddressRange{}, fmt.Errorf("%q: %s", s, form)
	}
	return AddressRange{From: a, To: a, Text: s}, nil
}

// ParsePoolRange is ParseAddressRange for the MetalLB pool, which is IPv4
// only: the rendered stack names the first address in config-domain
// (<address>.sslip.io) and loadBalancerIPs, which are not written for IPv6
// (nor is dual-stack k0s networking), so an IPv6 or zoned address is
// refused rather than rendered into objects that do not work.
func ParsePoolRange(s string) (AddressRange, error) {
	r, err := ParseAddressRange(s)
	if err != nil {
		return r, err
	}
	if !r.From.Is4() || !r.To.Is4() {
		return AddressRange{}, fmt.Errorf("%q: IPv6 pools are not supported (the node's networking and the Knative domain edgeimg renders are IPv4 only): expected IPv4 addresses", strings.TrimSpace(s))
	}
	return r, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bit := i * 8
		switch {
		case bit >= p.Bits():
			b[i] = 0xff
		case bit+8 > p.Bits():
			b[i] |= byte(0xff >> (p.Bits() - bit))
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Overlaps reports whether two ranges share an address.
func (r AddressRange) Overlaps(o AddressRange) bool {
	return r.From.Is4() == o.From.Is4() && !r.To.Less(o.From) && !o.To.Less(r.From)
}

// FirstUsable is the first address MetalLB hands out from the range: for a
// CIDR MetalLB skips nothing, but the network address of an IPv4 /24-style
// pool is rarely reachable, so callers pinning an address use this.
func (r AddressRange) FirstUsable() netip.Addr {
	if strings.Contains(r.Text, "/") && r.From.Is4() && r.From != r.To {
		if n := r.From.Next(); n.IsValid() {
			return n
		}
	}
	return r.From
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

func (v *validator) services(svcs []Service) {
	seen := map[string]int{}
	for i, s := range svcs {
		f := fmt.Sprintf("spec.services[%d]", i)
		if !dnsLabel.MatchString(s.Name) {
			v.add(f+".name", "%q: expected a DNS label (lowercase letters, digits, '-')", s.Name)
		}
		if !dnsLabel.MatchString(s.Namespace) {
			v.add(f+".namespace", "%q: expected a namespace name", s.Namespace)
		} else if slices.Contains(SystemNamespaces, s.Namespace) {
			v.add(f+".namespace", "%q is a system namespace (%s): expected default or a namespace of your own (edgeimg creates it)", s.Namespace, strings.Join(SystemNamespaces, ", "))
		}
		key := s.Namespace + "/" + s.Name
		if j, dup := seen[key]; dup {
			v.add(f+".name", "%q in namespace %q is also spec.services[%d]: expected unique names", s.Name, s.Namespace, j)
		}
		seen[key] = i
		if err := checkReference(s.Image); err != nil {
			v.add(f+".image", "%s", err.Error())
		}
		for k := range s.Env {
			switch {
			case !envNameRe.MatchString(k):
				v.add(f+".env."+k, "expected an environment variable name")
			case k == "PORT" || strings.HasPrefix(k, "K_"):
				v.add(f+".env."+k, "set by Knative for every revision (PORT, K_SERVICE, K_CONFIGURATION, K_REVISION; K_* is reserved): expected another name (the container port is spec.services[].port)")
			}
		}
		switch {
		case s.Port < 0 || s.Port > 65535:
			v.add(f+".port", "%d: expected 1-65535 (or 0 for Knative's default 8080)", s.Port)
		case slices.Contains(QueueProxyPorts, s.Port):
			v.add(f+".port", "%d is a port of Knative's queue-proxy sidecar (reserved: %s): expected another port", s.Port, joinInts(QueueProxyPorts))
		}
		v.resources(f, s.Requests, s.Limits)
		if s.MinScale != nil && *s.MinScale < 0 {
			v.add(f+".minScale", "%d: expected 0 or more", *s.MinScale)
		}
		if s.MaxScale != nil && (*s.MaxScale < 0 || (s.MinScale != nil && *s.MaxScale != 0 && *s.MaxScale < *s.MinScale)) {
			v.add(f+".maxScale", "%d: expected 0 (unlimited) or at least minScale", *s.MaxScale)
		}
	}
}

// SystemNamespaces belong to Kubernetes, k0s and the stack: a service is
// never deployed into one.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "knative-serving", "kourier-system", "metallb-system"}

// QueueProxyPorts are the ports Knative's queue-proxy sidecar (and its
// profiling endpoint) listens on in every revision's pod, which Knative
// refuses as a container port.
var QueueProxyPorts = []int{8008, 8012, 8013, 8022, 8090, 8112, 9090, 9091}

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

// resources checks a service's requests and limits: in range, and no
// request above its limit (Kubernetes refuses such a pod).
func (v *validator) resources(f string, req, lim ResourceList) {
	okCPU := v.cpu(f+".requests.cpu", req.CPU) && v.cpu(f+".limits.cpu", lim.CPU)
	okMem := v.memory(f+".requests.memory", req.Memory) && v.memory(f+".limits.memory", lim.Memory)
	if okCPU && req.CPU.IsSet() && lim.CPU.IsSet() && req.CPU.Cmp(lim.CPU) > 0 {
		v.add(f+".requests.cpu", "%s is above limits.cpu %s: expected a request at most its limit", req.CPU, lim.CPU)
	}
	if okMem && req.Memory.IsSet() && lim.Memory.IsSet() && req.Memory.Cmp(lim.Memory) > 0 {
		v.add(f+".requests.memory", "%s is above limits.memory %s: expected a request at most its limit", req.Memory, lim.Memory)
	}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
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
