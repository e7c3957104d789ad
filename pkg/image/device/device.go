// Package device is the per-device config of an edgeimg image: the file
// edgeimg-device.yaml on the image's FAT boot partition, which one image
// for a whole fleet reads on every boot to become one particular device.
// A user writes it with 'edgeimg device-config' into an image file, or
// edits it on any laptop after flashing (the partition is FAT).
//
// The file (every key optional):
//
//	hostname: edge-01
//	network:
//	  mode: static              # or dhcp (the default)
//	  interface: eth0           # default: every wired interface
//	  address: 192.168.1.20/24
//	  gateway: 192.168.1.1
//	  dns: [192.168.1.1]
//	ssh:
//	  authorizedKeys:
//	    - ssh-ed25519 AAAA... admin@laptop
//	metallb:
//	  addresses:
//	    - 192.168.1.240-192.168.1.250
//	labels:
//	  example.com/site: berlin
//
// # Node-side contract
//
// edgeimg-device.service (overlays/base/usr/lib/edgeimg/device-config)
// runs before systemd-networkd, ssh and k0scontroller.service and writes:
//
//   - /etc/hostname (and the running host name),
//   - /etc/systemd/network/10-edgeimg-device.network,
//   - /root/.ssh/authorized_keys (the spec's keys plus the device's),
//   - /etc/edgeimg/device.env, a shell/systemd EnvironmentFile with
//     EDGEIMG_HOSTNAME, EDGEIMG_METALLB_ADDRESSES (space-separated MetalLB
//     pool entries: CIDRs, ranges or addresses) and EDGEIMG_NODE_LABELS
//     (comma-separated key=value, the form of k0s's --labels flag).
//
// device.env always exists: the image ships it with the spec's values
// (/etc/edgeimg/device.defaults.env holds those) and the device file
// overrides what it sets. The stacks' apply-site script (run by the device
// unit, before k0s starts) makes the MetalLB pool, Kourier's pinned address
// and the sslip.io domain follow EDGEIMG_METALLB_ADDRESSES; the stack
// promoter labels the node with EDGEIMG_NODE_LABELS once the API answers.
package device

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// FileName is the name of the device file on the boot partition.
const FileName = "edgeimg-device.yaml"

// Node-side files of the contract.
const (
	EnvFile         = "/etc/edgeimg/device.env"
	DefaultsEnvFile = "/etc/edgeimg/device.defaults.env"
	NetworkFile     = "/etc/systemd/network/10-edgeimg-device.network"
)

// Config is edgeimg-device.yaml.
type Config struct {
	Hostname string            `yaml:"hostname,omitempty"`
	Network  *Network          `yaml:"network,omitempty"`
	SSH      *SSH              `yaml:"ssh,omitempty"`
	MetalLB  *MetalLB          `yaml:"metallb,omitempty"`
	Labels   map[string]string `yaml:"labels,omitempty"`
}

// Network modes.
const (
	ModeDHCP   = "dhcp"
	ModeStatic = "static"
)

// Network is the device's wired network.
type Network struct {
	Mode      string   `yaml:"mode,omitempty"`
	Interface string   `yaml:"interface,omitempty"`
	Address   string   `yaml:"address,omitempty"`
	Gateway   string   `yaml:"gateway,omitempty"`
	DNS       []string `yaml:"dns,omitempty"`
}

// SSH adds login keys for root.
type SSH struct {
	AuthorizedKeys []string `yaml:"authorizedKeys,omitempty"`
}

// MetalLB replaces the image's MetalLB address pool.
type MetalLB struct {
	Addresses []string `yaml:"addresses,omitempty"`
}

// Parse decodes a device file strictly (unknown keys are errors) and
// validates it. name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return &c, nil // an empty file: nothing to change
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s is invalid:\n  %s", name, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return &c, nil
}

var (
	hostnameRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	interfaceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:*-]{0,14}$`)
)

// Validate checks every field and returns all problems, each naming the
// field and what was expected.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Hostname != "" && !hostnameRe.MatchString(c.Hostname) {
		add("hostname", "%q: expected a host name (lowercase letters, digits, '-', at most 63)", c.Hostname)
	}
	if n := c.Network; n != nil {
		var prefix netip.Prefix
		switch n.Mode {
		case "", ModeDHCP:
			if n.Address != "" || n.Gateway != "" {
				add("network.mode", "%q: address and gateway need mode: static", n.Mode)
			}
		case ModeStatic:
			p, err := netip.ParsePrefix(n.Address)
			if err != nil || p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen()-1 {
				add("network.address", "%q: expected the device's address with its prefix length, such as 192.168.1.20/24", n.Address)
			}
			prefix = p
		default:
			add("network.mode", "%q: expected dhcp or static", n.Mode)
		}
		if n.Interface != "" && !interfaceRe.MatchString(n.Interface) {
			add("network.interface", "%q: expected an interface name such as eth0 or enp1s0", n.Interface)
		}
		if n.Gateway != "" {
			g, err := netip.ParseAddr(n.Gateway)
			switch {
			case err != nil:
				add("network.gateway", "%q: expected an IP address", n.Gateway)
			case prefix.IsValid() && !prefix.Masked().Contains(g):
				add("network.gateway", "%s is not in %s: expected an address of the device's network", g, prefix.Masked())
			}
		}
		for i, d := range n.DNS {
			if _, err := netip.ParseAddr(d); err != nil {
				add(fmt.Sprintf("network.dns[%d]", i), "%q: expected an IP address", d)
			}
		}
	}
	if c.SSH != nil {
		for i, k := range c.SSH.AuthorizedKeys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || strings.ContainsAny(k, "\n\r") {
				add(fmt.Sprintf("ssh.authorizedKeys[%d]", i), "not an SSH public key: expected an authorized_keys line such as 'ssh-ed25519 AAAA... user@host'")
			}
		}
	}
	if c.MetalLB != nil {
		var ranges []spec.AddressRange
		for i, a := range c.MetalLB.Addresses {
			r, err := spec.ParseAddressRange(a)
			if err != nil {
				add(fmt.Sprintf("metallb.addresses[%d]", i), "%s", err)
				continue
			}
			for j, o := range ranges {
				if r.Overlaps(o) {
					add(fmt.Sprintf("metallb.addresses[%d]", i), "%q overlaps metallb.addresses[%d] %q: expected disjoint ranges", a, j, o.Text)
				}
			}
			ranges = append(ranges, r)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 || strings.ContainsAny(k, "#'\"") {
			add("labels."+k, "not a label key: %s", strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(c.Labels[k]); len(msgs) > 0 {
			add("labels."+k, "%q is not a label value: %s", c.Labels[k], strings.Join(msgs, "; "))
		}
	}
	return errors.Join(errs...)
}

// quote writes a YAML double-quoted scalar the node's reader understands.
func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// Marshal writes the config in the canonical form: a comment header, the
// keys in a fixed order and every string double-quoted.
func (c *Config) Marshal() []byte {
	var b strings.Builder
	b.WriteString("# edgeimg per-device config, read by the node on every boot.\n")
	b.WriteString("# Edit it here (it is on the FAT boot partition) or with 'edgeimg device-config'.\n")
	if c.Hostname != "" {
		fmt.Fprintf(&b, "hostname: %s\n", quote(c.Hostname))
	}
	if n := c.Network; n != nil {
		b.WriteString("network:\n")
		for _, kv := range [][2]string{{"mode", n.Mode}, {"interface", n.Interface}, {"address", n.Address}, {"gateway", n.Gateway}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "  %s: %s\n", kv[0], quote(kv[1]))
			}
		}
		list(&b, "  ", "dns", n.DNS)
	}
	if c.SSH != nil && len(c.SSH.AuthorizedKeys) > 0 {
		b.WriteString("ssh:\n")
		list(&b, "  ", "authorizedKeys", c.SSH.AuthorizedKeys)
	}
	if c.MetalLB != nil && len(c.MetalLB.Addresses) > 0 {
		b.WriteString("metallb:\n")
		list(&b, "  ", "addresses", c.MetalLB.Addresses)
	}
	if len(c.Labels) > 0 {
		b.WriteString("labels:\n")
		for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
			fmt.Fprintf(&b, "  %s: %s\n", quote(k), quote(c.Labels[k]))
		}
	}
	return []byte(b.String())
}

func list(b *strings.Builder, indent, key string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "%s%s:\n", indent, key)
	for _, it := range items {
		fmt.Fprintf(b, "%s  - %s\n", indent, quote(it))
	}
}

// Flatten returns the config as the node's reader prints it: one
// "path=value" line per value ("path[]=value" for list items), sorted.
func (c *Config) Flatten() []string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	add("hostname", c.Hostname)
	if n := c.Network; n != nil {
		add("network.mode", n.Mode)
		add("network.interface", n.Interface)
		add("network.address", n.Address)
		add("network.gateway", n.Gateway)
		for _, d := range n.DNS {
			add("network.dns[]", d)
		}
	}
	if c.SSH != nil {
		for _, k := range c.SSH.AuthorizedKeys {
			add("ssh.authorizedKeys[]", k)
		}
	}
	if c.MetalLB != nil {
		for _, a := range c.MetalLB.Addresses {
			add("metallb.addresses[]", a)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		add("labels."+k, c.Labels[k])
	}
	sort.Strings(out)
	return out
}

// DefaultsEnv renders device.defaults.env (and the initial device.env)
// from the spec: its host name and MetalLB pool, no labels.
func DefaultsEnv(hostname string, metallbAddresses []string) []byte {
	return []byte(fmt.Sprintf("# Written by edgeimg at build time: the image's defaults.\nEDGEIMG_HOSTNAME=%q\nEDGEIMG_METALLB_ADDRESSES=%q\nEDGEIMG_NODE_LABELS=\"\"\n",
		hostname, strings.Join(metallbAddresses, " ")))
}

// Example is written to the boot partition as edgeimg-device.yaml.example:
// every setting, commented out, for users editing on a laptop.
const Example = `# Per-device settings for this edgeimg image. To use them, copy this file
# to edgeimg-device.yaml (on this same partition), uncomment what you need
# and boot the device: it applies the file on every boot when it changed.
# Or write it with: edgeimg device-config -i IMAGE.img -f device.yaml
#
#hostname: edge-01
#network:
#  mode: static                 # or dhcp (the default)
#  interface: eth0              # default: every wired interface
#  address: 192.168.1.20/24
#  gateway: 192.168.1.1
#  dns: [192.168.1.1]
#ssh:
#  authorizedKeys:
#    - ssh-ed25519 AAAA... admin@laptop
#metallb:
#  addresses:
#    - 192.168.1.240-192.168.1.250
#labels:
#  example.com/site: berlin
`
