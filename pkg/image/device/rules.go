package device

import (
	"fmt"
	"strings"
)

// A Rule says what one setting of edgeimg-device.yaml may hold. Rules is
// the only definition: the Go validator applies it, and the image carries
// it as RulesFile (RenderRules) for the node's checker
// (overlays/base/usr/lib/edgeimg/device-check.awk), so the node refuses
// exactly what 'edgeimg device-config' refuses.
//
// Patterns are POSIX extended regular expressions that mean the same in
// Go's RE2 and in awk: anchored, no interval braces (mawk 1.3.4 before
// 2020-07 lacks them; lengths are MaxLen), no escapes but \. .
type Rule struct {
	// Field is the setting as the readers print it: "hostname",
	// "network.dns[]" (a list's items), "labels.*" (a map's values).
	Field string
	// Part is "" for the value; for labels.* also "key-prefix" and
	// "key-name", the two parts of the key (prefix/name).
	Part string
	// Check is "re" (Pattern and MaxLen), or one of the address checks:
	// "ipv4" (one address), "ipv4-host" (address/prefix of a host),
	// "ipv4-gateway" (an address in network.address's network),
	// "ipv4-pool" (a CIDR, a range a-b or one address; disjoint entries).
	Check    string
	Pattern  string
	MaxLen   int
	MaxItems int // lists and maps: most entries; 0 for one value
	Want     string
}

// RulesFile is where the image carries the rendered Rules.
const RulesFile = "/usr/lib/edgeimg/device-rules"

// MaxFileSize is the largest device file either side reads.
const MaxFileSize = 65536

// Rules of edgeimg-device.yaml.
var Rules = []Rule{
	{Field: "hostname", Check: "re", Pattern: `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, MaxLen: 63,
		Want: "a host name: lowercase letters, digits and '-', at most 63"},
	{Field: "network.mode", Check: "re", Pattern: `^(dhcp|static)$`, MaxLen: 6, Want: "dhcp or static"},
	{Field: "network.interface", Check: "re", Pattern: `^[A-Za-z0-9][-A-Za-z0-9_.]*$`, MaxLen: 15,
		Want: "an interface name such as eth0 or enp1s0 (letters, digits, '-', '_', '.'; at most 15)"},
	{Field: "network.address", Check: "ipv4-host", MaxLen: 18,
		Want: "the device's IPv4 address with its prefix length, such as 192.168.1.20/24"},
	{Field: "network.gateway", Check: "ipv4-gateway", MaxLen: 15, Want: "an IPv4 address such as 192.168.1.1"},
	{Field: "network.dns[]", Check: "ipv4", MaxLen: 15, MaxItems: 4, Want: "an IPv4 address such as 192.168.1.1"},
	{Field: "ssh.authorizedKeys[]", Check: "re", MaxLen: 8192, MaxItems: 64,
		Pattern: `^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*( [ -~]*)?$`,
		Want:    "a public key line 'TYPE BASE64 [comment]' (no options such as command= or from=)"},
	{Field: "metallb.addresses[]", Check: "ipv4-pool", MaxLen: 31, MaxItems: 32,
		Want: "an IPv4 CIDR (192.168.10.240/28), range (192.168.10.240-192.168.10.250) or address"},
	{Field: "labels.*", Check: "re", Pattern: `^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`, MaxLen: 63, MaxItems: 64,
		Want: "a label value: letters, digits, '-', '_', '.', starting and ending with a letter or digit, at most 63"},
	{Field: "labels.*", Part: "key-prefix", Check: "re", Pattern: `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`, MaxLen: 253,
		Want: "a label key prefix: a DNS subdomain such as example.com, at most 253"},
	{Field: "labels.*", Part: "key-name", Check: "re", Pattern: `^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`, MaxLen: 63,
		Want: "a label key [prefix/]name, the name: letters, digits, '-', '_', '.', starting and ending with a letter or digit, at most 63"},
}

// RenderRules is RulesFile: a comment, then one rule per line with the
// fields Field, Part, Check, MaxItems, MaxLen, Pattern, Want separated by
// tabs.
func RenderRules() []byte {
	var b strings.Builder
	b.WriteString("# edgeimg-device.yaml rules, written by edgeimg build from pkg/image/device/rules.go\n")
	b.WriteString("# field\tpart\tcheck\tmaxitems\tmaxlen\tpattern\twant\n")
	for _, r := range Rules {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Field, r.Part, r.Check, r.MaxItems, r.MaxLen, r.Pattern, r.Want)
	}
	return []byte(b.String())
}
