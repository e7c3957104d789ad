package device

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// Parse reads a device file (Read) and checks it (Check): the same
// verdict as the node's reader. name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	entries, err := Read(data)
	var se *SyntaxError
	switch {
	case errors.As(err, &se) && se.Line > 0:
		return nil, fmt.Errorf("%s:%d: %s", name, se.Line, se.Msg)
	case errors.As(err, &se):
		return nil, fmt.Errorf("%s: %s", name, se.Msg)
	case err != nil:
		return nil, err
	}
	if errs := Check(entries); len(errs) > 0 {
		return nil, fmt.Errorf("%s is invalid:\n  %s", name, strings.ReplaceAll(errList(errs).Error(), "\n", "\n  "))
	}
	return fromEntries(entries), nil
}

// fromEntries builds the config of checked entries.
func fromEntries(entries []Entry) *Config {
	c := &Config{}
	net := func() *Network {
		if c.Network == nil {
			c.Network = &Network{}
		}
		return c.Network
	}
	for _, e := range entries {
		switch e.Path {
		case "hostname":
			c.Hostname = e.Value
		case "network.mode":
			net().Mode = e.Value
		case "network.interface":
			net().Interface = e.Value
		case "network.address":
			net().Address = e.Value
		case "network.gateway":
			net().Gateway = e.Value
		case "network.dns[]":
			net().DNS = append(net().DNS, e.Value)
		case "ssh.authorizedKeys[]":
			if c.SSH == nil {
				c.SSH = &SSH{}
			}
			c.SSH.AuthorizedKeys = append(c.SSH.AuthorizedKeys, e.Value)
		case "metallb.addresses[]":
			if c.MetalLB == nil {
				c.MetalLB = &MetalLB{}
			}
			c.MetalLB.Addresses = append(c.MetalLB.Addresses, e.Value)
		default:
			if k, ok := strings.CutPrefix(e.Path, "labels."); ok {
				if c.Labels == nil {
					c.Labels = map[string]string{}
				}
				c.Labels[k] = e.Value
			}
		}
	}
	return c
}

// Validate checks every field with Rules and returns all problems, each
// naming the field and what was expected.
func (c *Config) Validate() error {
	return errList(Check(c.Entries()))
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
			fmt.Fprintf(&b, "  %s: %s\n", k, quote(c.Labels[k]))
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

// Entries returns the config's values in the order Marshal writes them,
// as Read returns them from that file.
func (c *Config) Entries() []Entry {
	var out []Entry
	add := func(k, v string) {
		if v != "" {
			out = append(out, Entry{k, v})
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
