package device

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
)

const (
	key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdnqBkqAmR0nX2JxQn9fBqv0cR2w8xEo8N8qVYbKXyE admin@laptop"
	key2 = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= ops"
)

// overlayLib is the directory of the node's scripts in the source tree.
func overlayLib(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../../../overlays/base/usr/lib/edgeimg")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// node is the node-side reader as the image has it: the real scripts and
// the rendered rules in a lib directory, run with dash and the host's
// awk (mawk on Debian, as on the node) in a temp root.
type node struct {
	sh, lib, root string
}

func newNode(t testing.TB) *node {
	t.Helper()
	sh := testkit.NeedHostCommand(t, "dash", "dash")
	testkit.NeedHostCommand(t, "awk", "mawk")
	lib := t.TempDir()
	for _, f := range []string{"device-config", "device-yaml.awk", "device-check.awk"} {
		data, err := os.ReadFile(filepath.Join(overlayLib(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lib, f), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lib, "device-rules"), RenderRules(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &node{sh: sh, lib: lib, root: t.TempDir()}
}

func (n *node) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(n.sh, append([]string{filepath.Join(n.lib, "device-config")}, args...)...)
	cmd.Env = append(os.Environ(), "EDGEIMG_LIB="+n.lib, "EDGEIMG_ROOT="+n.root)
	return cmd
}

// check runs 'device-config --check' on doc: its output lines and whether
// it accepted the file.
func (n *node) check(t testing.TB, doc []byte) ([]string, bool) {
	t.Helper()
	f := filepath.Join(n.root, "check.yaml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := n.cmd("--check", f)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("device-config --check: %v\n%s%s", err, out, stderr.Bytes())
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("device-config --check wrote to stderr: %s", stderr.Bytes())
	}
	return lines(string(out)), err == nil
}

// goCheck is the Go side in the node's output form: the values of an
// accepted file, or one line per problem.
func goCheck(doc []byte) ([]string, bool) {
	entries, err := Read(doc)
	if err != nil {
		return []string{err.Error()}, false
	}
	if errs := Check(entries); len(errs) > 0 {
		var out []string
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out, false
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Path+"="+e.Value)
	}
	return out, true
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// deviceCases are good and bad device files, each with the verdict
// expected from both readers; bad ones name what the message must hold.
var deviceCases = []struct {
	name, doc string
	ok        bool
	want      string // a line of the output must contain it
}{
	{"empty", "", true, ""},
	{"comments only", "# nothing set\n\n   # indented comment\n", true, ""},
	{"document start", "---\nhostname: edge-01\n", true, "hostname=edge-01"},
	{"no final newline", "hostname: edge-01", true, "hostname=edge-01"},
	{"canonical", string((&Config{
		Hostname: "edge-01",
		Network:  &Network{Mode: "static", Interface: "eth0", Address: "192.168.1.20/24", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1", "9.9.9.9"}},
		SSH:      &SSH{AuthorizedKeys: []string{key1, key2}},
		MetalLB:  &MetalLB{Addresses: []string{"192.168.1.240-192.168.1.250", "10.0.0.0/28"}},
		Labels:   map[string]string{"example.com/site": "berlin", "tier": "edge"},
	}).Marshal()), true, "labels.example.com/site=berlin"},
	{"hand-written", "# my device\nhostname: edge-02   # the name\nnetwork:\n  mode: dhcp\n  dns: [1.1.1.1, '9.9.9.9']\n\nssh:\n  authorizedKeys:\n  - " + key1 + "\nmetallb:\n  addresses:\n    - \"192.168.5.0/28\"\nlabels:\n  role: \"worker\"\n  example.com/rack: r1 # trailing comment\n", true, "network.dns[]=9.9.9.9"},
	{"flow and quotes", "hostname: \"edge-03\"\nmetallb:\n  addresses: [\"192.168.7.10\", 192.168.7.20-192.168.7.30]\n", true, "metallb.addresses[]=192.168.7.20-192.168.7.30"},
	{"null values", "hostname: ~\nnetwork:\n  mode: null\n  dns: []\nlabels:\n", true, ""},
	{"block comment after key", "network: # the network\n  mode: dhcp\n", true, "network.mode=dhcp"},
	{"static /32", "network:\n  mode: static\n  address: 10.1.2.3/32\n", true, ""},
	{"static /31", "network:\n  mode: static\n  address: 10.1.2.2/31\n  gateway: 10.1.2.3\n", true, ""},
	{"interface", "network:\n  interface: enp1s0\n", true, "network.interface=enp1s0"},
	{"dns four", "network:\n  dns: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4]\n", true, ""},
	{"single-quoted escape", "labels:\n  a: 'x''y'\n", false, "labels.a: \"x'y\""},
	{"double-quoted escape", "hostname: \"a\\\\b\"\n", false, `hostname: "a\b"`},
	{"label empty value", "labels:\n  a: ''\n", true, ""},
	{"label max", "labels:\n  " + strings.Repeat("a", 63) + ": " + strings.Repeat("b", 63) + "\n", true, ""},
	{"label long key", "labels:\n  " + strings.Repeat("a", 64) + ": b\n", false, "not a label key"},
	{"label long value", "labels:\n  a: " + strings.Repeat("b", 64) + "\n", false, "longer than 63"},
	{"label prefix", "labels:\n  a.b-c.example/x_y.z: v\n", true, ""},
	{"label bad prefix", "labels:\n  Example.com/x: v\n", false, "label key prefix"},
	{"label two slashes", "labels:\n  a/b/c: v\n", false, "with one '/'"},
	{"label bad key end", "labels:\n  a_: v\n", false, "not a label key"},
	{"label bad value", "labels:\n  a: 'x y'\n", false, "labels.a: \"x y\""},
	{"label value dash end", "labels:\n  a: x-\n", false, "labels.a"},
	{"labels list", "labels: [a]\n", false, "labels: not a setting"},
	{"labels scalar", "labels: a\n", false, "labels: not a setting"},
	{"hostname max", "hostname: " + strings.Repeat("a", 63) + "\n", true, ""},
	{"hostname long", "hostname: " + strings.Repeat("a", 64) + "\n", false, "longer than 63"},
	{"hostname upper", "hostname: Edge_1\n", false, "hostname: \"Edge_1\": expected a host name"},
	{"hostname dash", "hostname: edge-\n", false, "hostname"},
	{"hostname list", "hostname: [a]\n", false, "hostname: expected one value, not a list"},
	{"hostname block list", "hostname:\n  - a\n  - b\n", false, "hostname: expected one value"},
	{"hostname dot", "hostname: edge.lab\n", false, "hostname"},
	{"unknown key", "hostnme: a\n", false, "hostnme: not a setting"},
	{"unknown nested", "network:\n  gw: 1.2.3.4\n", false, "network.gw: not a setting"},
	{"network scalar", "network: dhcp\n", false, "network: not a setting"},
	{"bad mode", "network:\n  mode: ppp\n", false, "expected dhcp or static"},
	{"static without address", "network:\n  mode: static\n", false, "network.address: missing"},
	{"address with dhcp", "network:\n  address: 10.0.0.2/24\n", false, "network.mode: network.address and network.gateway need mode: static"},
	{"gateway without static", "network:\n  mode: dhcp\n  gateway: 10.0.0.1\n", false, "need mode: static"},
	{"gateway outside", "network:\n  mode: static\n  address: 10.0.0.2/24\n  gateway: 10.0.1.1\n", false, "network.gateway: \"10.0.1.1\": not in the network"},
	{"gateway bad", "network:\n  mode: static\n  address: 10.0.0.2/24\n  gateway: 10.0.0\n", false, "network.gateway"},
	{"address no prefix", "network:\n  mode: static\n  address: 10.0.0.2\n", false, "network.address"},
	{"address network", "network:\n  mode: static\n  address: 10.0.0.0/24\n", false, "network or broadcast"},
	{"address broadcast", "network:\n  mode: static\n  address: 10.0.0.255/24\n", false, "network or broadcast"},
	{"address /0", "network:\n  mode: static\n  address: 10.0.0.1/0\n", false, "network.address"},
	{"address /33", "network:\n  mode: static\n  address: 10.0.0.1/33\n", false, "network.address"},
	{"address /08", "network:\n  mode: static\n  address: 10.0.0.1/08\n", false, "network.address"},
	{"address octet 256", "network:\n  mode: static\n  address: 10.0.0.256/24\n", false, "network.address"},
	{"address leading zero", "network:\n  mode: static\n  address: 10.0.0.01/24\n", false, "network.address"},
	{"address ipv6", "network:\n  mode: static\n  address: fd00::2/64\n", false, "IPv6 is not supported"},
	{"interface glob", "network:\n  interface: 'en*'\n", false, "network.interface"},
	{"interface long", "network:\n  interface: abcdefghijklmnop\n", false, "longer than 15"},
	{"interface space", "network:\n  interface: 'eth0 eth1'\n", false, "network.interface"},
	{"dns word", "network:\n  dns: [one]\n", false, "network.dns[0]"},
	{"dns glob", "network:\n  dns: [\"*\"]\n", false, `network.dns[0]: "*"`},
	{"dns second bad", "network:\n  dns: [1.1.1.1, 1.1.1]\n", false, "network.dns[1]"},
	{"dns scalar", "network:\n  dns: 1.1.1.1\n", false, "network.dns: expected a list"},
	{"dns five", "network:\n  dns: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4, 9.9.9.9]\n", false, "network.dns: more than 4 entries"},
	{"dns ipv6", "network:\n  dns: ['2001:db8::1']\n", false, "IPv6 is not supported"},
	{"ssh bad", "ssh:\n  authorizedKeys: [hello]\n", false, "ssh.authorizedKeys[0]"},
	{"ssh options", "ssh:\n  authorizedKeys:\n    - command=\"touch /PWNED\" " + key1 + "\n", false, "no options"},
	{"ssh from option", "ssh:\n  authorizedKeys:\n    - 'from=\"10.0.0.1\" " + key1 + "'\n", false, "ssh.authorizedKeys[0]"},
	{"ssh no comment", "ssh:\n  authorizedKeys:\n    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdnqBkqAmR0nX2JxQn9fBqv0cR2w8xEo8N8qVYbKXyE\n", true, ""},
	{"ssh bad type", "ssh:\n  authorizedKeys:\n    - ssh-dss AAAAB3NzaC1kc3M= x\n", false, "ssh.authorizedKeys[0]"},
	{"ssh bad base64", "ssh:\n  authorizedKeys:\n    - ssh-ed25519 AA$A x\n", false, "ssh.authorizedKeys[0]"},
	{"ssh scalar", "ssh:\n  authorizedKeys: " + key1 + "\n", false, "ssh.authorizedKeys: expected a list"},
	{"metallb cidr", "metallb:\n  addresses: [10.0.0.0/28]\n", true, ""},
	{"metallb single", "metallb:\n  addresses: [10.0.0.7]\n", true, ""},
	{"metallb overlap", "metallb:\n  addresses: [10.0.0.0/28, 10.0.0.5]\n", false, "metallb.addresses[1]: \"10.0.0.5\": overlaps metallb.addresses[0]"},
	{"metallb overlap range", "metallb:\n  addresses: [10.0.0.1-10.0.0.9, 10.0.0.9-10.0.0.20]\n", false, "overlaps"},
	{"metallb adjacent", "metallb:\n  addresses: [10.0.0.1-10.0.0.9, 10.0.0.10-10.0.0.20]\n", true, ""},
	{"metallb backwards", "metallb:\n  addresses: [10.0.0.9-10.0.0.1]\n", false, "ends before it starts"},
	{"metallb host bits", "metallb:\n  addresses: [10.0.0.1/28]\n", false, "host bits set"},
	{"metallb ipv6 cidr", "metallb:\n  addresses: ['fd00::/120']\n", false, "metallb.addresses[0]: \"fd00::/120\": IPv6 is not supported"},
	{"metallb ipv6 zoned", "metallb:\n  addresses: ['fe80::1%eth0']\n", false, "IPv6 is not supported"},
	{"metallb word", "metallb:\n  addresses: [pool]\n", false, "not an IPv4 address"},
	{"metallb range junk", "metallb:\n  addresses: [10.0.0.1-x]\n", false, "not a range"},
	{"metallb /0", "metallb:\n  addresses: [0.0.0.0/0]\n", false, "not an IPv4 CIDR"},
	{"metallb many", "metallb:\n  addresses: [" + manyAddresses(33) + "]\n", false, "metallb.addresses: more than 32 entries"},
	// Reproductions from issue 11: nothing the file holds ever runs.
	{"command substitution", "network:\n  mode: static\n  address: $(touch /PWNED)\n", false, `network.address: "$(touch /PWNED)"`},
	{"quote breakout", "metallb:\n  addresses:\n    - '\"; touch /PWNED; : \"'\n", false, `metallb.addresses[0]: ""; touch /PWNED; : ""`},
	{"quote breakout hostname", "hostname: '\"; touch /PWNED; : \"'\n", false, "hostname"},
	{"backticks label", "labels:\n  a: '`touch /PWNED`'\n", false, "labels.a"},
	{"dollar label key", "labels:\n  $(id): a\n", false, "unsupported key"},
	{"newline escape", "hostname: \"edge\\nx\"\n", false, "unsupported escape"},
	{"CR line end", "hostname: edge-01\r\n", false, "edgeimg-device.yaml:1: not printable ASCII"},
	{"CR in value", "network:\n  mode: static\n  address: \"10.0.0.2/24\rDNS=6.6.6.6\"\n", false, "edgeimg-device.yaml:3: not printable ASCII"},
	{"tab", "network:\n\tmode: dhcp\n", false, ":2: not printable ASCII"},
	{"NUL", "hostname: a\x00b\n", false, ":1: not printable ASCII"},
	{"UTF-8", "hostname: édge\n", false, ":1: not printable ASCII"},
	{"too large", "# " + strings.Repeat("x", MaxFileSize) + "\n", false, "larger than 65536 bytes"},
	// Outside the YAML subset: refused with the line.
	{"deep nesting", "network:\n  mode: static\n    x: 1\n", false, ":3: nesting deeper"},
	{"uneven indentation", "network:\n    mode: dhcp\n  dns: []\n", false, ":3: nesting deeper"},
	{"anchor", "hostname: &a edge\n", false, ":1: unsupported YAML syntax"},
	{"alias", "hostname: *a\n", false, ":1: unsupported YAML syntax"},
	{"tag", "hostname: !!str edge\n", false, ":1: unsupported YAML syntax"},
	{"flow map", "labels: {a: b}\n", false, ":1: unsupported YAML syntax"},
	{"orphan item", "- a\n", false, ":1: list item outside a list"},
	{"unterminated quote", "hostname: \"edge\n", false, ":1: unterminated"},
	{"unterminated flow", "network:\n  dns: [1.1.1.1\n", false, ":2: unterminated flow list"},
	{"text after quote", "hostname: \"edge\"x\n", false, "unexpected text after a quoted value"},
	{"text after flow", "network:\n  dns: [1.1.1.1] x\n", false, "unexpected text after a flow list"},
	{"nested flow", "network:\n  dns: [{a}]\n", false, "nested collections"},
	{"quoted comma in flow", "network:\n  dns: [\"1.1.1.1,2\"]\n", false, "unterminated quoted value"},
	{"question mark in flow", "0: [0?]\n", false, "cannot hold '?' or ':'"},
	{"colon in flow", "network:\n  dns: [fd00::1]\n", false, "cannot hold '?' or ':'"},
	{"key too long", strings.Repeat("k", 1500) + ": x\n", false, "key longer than 512 characters"},
	{"empty flow item", "network:\n  dns: [1.1.1.1,,1.0.0.1]\n", false, "empty item"},
	{"empty list item", "network:\n  dns:\n    -\n", false, "empty list item"},
	{"block scalar", "hostname: |\n  edge\n", false, ":1: unsupported YAML syntax"},
	{"folded scalar", "hostname: >\n  edge\n", false, ":1: unsupported YAML syntax"},
	{"colon in plain", "hostname: a: b\n", false, "cannot hold ': '"},
	{"colon end plain", "hostname: edge:\n", false, "cannot hold ': '"},
	{"no space after colon", "hostname:edge\n", false, "expected 'key: value'"},
	{"quoted key", "'hostname': edge\n", false, "unsupported key"},
	{"space before colon", "hostname : edge\n", false, "unsupported key"},
	{"duplicate key", "hostname: a\nhostname: b\n", false, ":2: duplicate key hostname"},
	{"duplicate block", "network:\n  mode: dhcp\nnetwork:\n  dns: []\n", false, ":3: duplicate key network"},
	{"duplicate label", "labels:\n  a: x\n  a: y\n", false, "duplicate key labels.a"},
	{"items misaligned", "network:\n  dns:\n    - 1.1.1.1\n  - 1.0.0.1\n", false, "list items do not line up"},
	{"key after top list", "network:\n  - 1.1.1.1\n  mode: dhcp\n", false, "indented entry without a parent key"},
	{"indented first line", "  hostname: edge\n", false, "indented entry without a parent key"},
	{"document end", "hostname: edge\n...\n", false, ":2:"},
	{"second document", "hostname: edge\n---\nhostname: x\n", false, ":2:"},
	{"directive", "%YAML 1.2\n---\nhostname: edge\n", false, ":1:"},
	{"question key", "? hostname\n: edge\n", false, ":1:"},
	{"multi-line plain", "ssh:\n  authorizedKeys:\n    - ssh-ed25519\n      AAAA\n", false, ":4:"},
}

func manyAddresses(n int) string {
	var s []string
	for i := range n {
		s = append(s, "10.0."+strconv.Itoa(i)+".1")
	}
	return strings.Join(s, ", ")
}

// TestNodeAgreesWithGo feeds every case to the Go reader and checker and
// to the node's device-config --check (dash, awk, the rendered rules),
// and requires the expected verdict and the same output line for line:
// the same values of a good file, the same messages for a bad one.
func TestNodeAgreesWithGo(t *testing.T) {
	n := newNode(t)
	for _, tc := range deviceCases {
		t.Run(tc.name, func(t *testing.T) {
			goOut, goOK := goCheck([]byte(tc.doc))
			if goOK != tc.ok {
				t.Errorf("Go verdict %v, want %v:\n%s", goOK, tc.ok, strings.Join(goOut, "\n"))
			}
			if tc.want != "" && !strings.Contains(strings.Join(goOut, "\n"), tc.want) {
				t.Errorf("Go output lacks %q:\n%s", tc.want, strings.Join(goOut, "\n"))
			}
			nodeOut, nodeOK := n.check(t, []byte(tc.doc))
			if nodeOK != goOK || strings.Join(nodeOut, "\n") != strings.Join(goOut, "\n") {
				t.Errorf("node (ok=%v):\n%s\nGo (ok=%v):\n%s", nodeOK, strings.Join(nodeOut, "\n"), goOK, strings.Join(goOut, "\n"))
			}
			_, err := Parse("dev.yaml", []byte(tc.doc))
			if (err == nil) != tc.ok {
				t.Errorf("Parse = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestMarshalRoundTrip: what 'edgeimg device-config' writes reads back
// as the same config on both sides.
func TestMarshalRoundTrip(t *testing.T) {
	for _, tc := range deviceCases {
		if !tc.ok {
			continue
		}
		c, err := Parse("dev.yaml", []byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, err := Parse("marshalled", c.Marshal())
		if err != nil {
			t.Fatalf("%s: marshalled form: %v\n%s", tc.name, err, c.Marshal())
		}
		if !bytes.Equal(again.Marshal(), c.Marshal()) {
			t.Errorf("%s: round trip:\n%s\nwant:\n%s", tc.name, again.Marshal(), c.Marshal())
		}
	}
}

// TestEnvGetOneDefinition: the scripts that read device.env share one
// env_get, byte for byte, and it reads the file as data: a value that a
// shell would expand or run comes back literally and runs nothing.
func TestEnvGetOneDefinition(t *testing.T) {
	files := []string{
		filepath.Join(overlayLib(t), "device-config"),
		"../../bundle/apply-site.sh",
		"../../bundle/promote-staged.sh",
	}
	var def string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "# env_get FILE NAME")
		j := strings.Index(s[max(i, 0):], "\n}\n")
		if i < 0 || j < 0 {
			t.Fatalf("%s: no env_get", f)
		}
		got := s[i : i+j+3]
		if strings.Count(s, "env_get() {") != 1 || regexp.MustCompile(`(?m)^\s*(\.|source) `).MatchString(s) {
			t.Errorf("%s: env_get defined more than once, or a file is sourced", f)
		}
		if def == "" {
			def = got
		} else if got != def {
			t.Errorf("%s: env_get differs:\n%s\nwant:\n%s", f, got, def)
		}
	}

	dir := t.TempDir()
	pwned := filepath.Join(dir, "PWNED")
	env := filepath.Join(dir, "device.env")
	values := map[string]string{
		"A": "$(touch " + pwned + ")",
		"B": "`touch " + pwned + "`",
		"C": `"; touch ` + pwned + `; : "`,
		"D": "*",
		"E": "plain",
	}
	var b strings.Builder
	for _, k := range []string{"A", "B", "C", "D", "E"} {
		b.WriteString(k + `="` + values[k] + "\"\n")
	}
	b.WriteString("E=last\n")
	os.WriteFile(env, []byte(b.String()), 0o644)
	values["E"] = "last"
	for k, want := range values {
		out, err := exec.Command("dash", "-c", def+`env_get "$1" "$2"`, "sh", env, k).CombinedOutput()
		if err != nil || strings.TrimSuffix(string(out), "\n") != want {
			t.Errorf("env_get %s = %q, %v; want %q", k, out, err, want)
		}
	}
	if out, err := exec.Command("dash", "-c", def+`env_get "$1" A`, "sh", filepath.Join(dir, "missing")).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("env_get on a missing file = %q, %v; want nothing", out, err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value in device.env ran")
	}
}

// TestApplySiteRefusesHostileEnv: apply-site, which runs as root before
// k0s, refuses a device.env whose MetalLB addresses are not addresses,
// and runs none of it.
func TestApplySiteRefusesHostileEnv(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "PWNED")
	site := filepath.Join(dir, "site.env")
	os.WriteFile(site, []byte("EDGEIMG_SITE_LB_ADDRESS=\"10.0.0.1\"\n"), 0o644)
	for _, v := range []string{"$(touch " + pwned + ")", `"; touch ` + pwned + `; : "`, "10.0.0.1 *", "10.0.0.1;touch " + pwned} {
		env := filepath.Join(dir, "device.env")
		os.WriteFile(env, []byte("EDGEIMG_METALLB_ADDRESSES=\""+v+"\"\n"), 0o644)
		cmd := exec.Command("dash", "../../bundle/apply-site.sh")
		cmd.Env = append(os.Environ(), "EDGEIMG_SITE_ENV="+site, "EDGEIMG_DEVICE_ENV="+env, "EDGEIMG_STATE_DIR="+filepath.Join(dir, "state"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "refusing MetalLB address") {
			t.Errorf("apply-site with %q: %v\n%s", v, err, out)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value in device.env ran")
	}
}

// nodeRoot lays out the files device-config reads in n.root, as the image
// has them.
func nodeRoot(t *testing.T, n *node) {
	t.Helper()
	files := map[string]string{
		"etc/edgeimg/image.env":             "EDGEIMG_IMAGE=\"edge\"\nEDGEIMG_BOOT_MOUNT=\"/boot/efi\"\n",
		"etc/edgeimg/device.defaults.env":   string(DefaultsEnv("edge", []string{"10.9.0.0/28"})),
		"etc/edgeimg/device.env":            string(DefaultsEnv("edge", []string{"10.9.0.0/28"})),
		"etc/edgeimg/authorized_keys":       key2 + "\n",
		"etc/hosts":                         "127.0.0.1\tlocalhost\n127.0.1.1\tedge\n",
		"etc/hostname":                      "edge\n",
		"etc/systemd/network/.keep":         "",
		"boot/efi/edgeimg-device.yaml.keep": "",
	}
	for p, data := range files {
		f := filepath.Join(n.root, p)
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tree lists every file under root but run/ with its content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "run" || rel == "check.yaml" || rel == "boot/efi/edgeimg-device.yaml" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			out[rel] = string(data)
		}
		return nil
	})
	return out
}

// TestDeviceConfigApply runs the node's device-config in a temp root: a
// good file is applied whole; each hostile or broken file is refused
// with one line per rejected setting, changes nothing and runs nothing.
func TestDeviceConfigApply(t *testing.T) {
	n := newNode(t)
	nodeRoot(t, n)
	devFile := filepath.Join(n.root, "boot/efi/edgeimg-device.yaml")
	apply := func(doc string) (string, error) {
		t.Helper()
		if err := os.WriteFile(devFile, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := n.cmd().CombinedOutput()
		return string(out), err
	}

	good := "hostname: edge-07\nnetwork:\n  mode: static\n  address: 192.168.1.20/24\n  gateway: 192.168.1.1\n  dns: [192.168.1.1, 9.9.9.9]\nssh:\n  authorizedKeys:\n    - " + key1 + "\nmetallb:\n  addresses: [192.168.1.240-192.168.1.250]\nlabels:\n  example.com/site: lab\n  tier: edge\n"
	out, err := apply(good)
	if err != nil {
		t.Fatalf("good file: %v\n%s", err, out)
	}
	want := map[string]string{
		"etc/hostname": "edge-07\n",
		"etc/hosts":    "127.0.0.1\tlocalhost\n127.0.1.1\tedge-07\n",
		"etc/systemd/network/10-edgeimg-device.network": "# Written by edgeimg-device.service from " + devFile + "\n[Match]\nName=en* eth*\nType=ether\n[Network]\nAddress=192.168.1.20/24\nGateway=192.168.1.1\nDNS=192.168.1.1\nDNS=9.9.9.9\n",
		"root/.ssh/authorized_keys":                     key2 + "\n" + key1 + "\n",
		"etc/edgeimg/device.env":                        "# Written by edgeimg-device.service; read as data (never sourced) by apply-site and the stack promoter.\nEDGEIMG_HOSTNAME=\"edge-07\"\nEDGEIMG_METALLB_ADDRESSES=\"192.168.1.240-192.168.1.250\"\nEDGEIMG_NODE_LABELS=\"example.com/site=lab,tier=edge\"\n",
	}
	applied := tree(t, n.root)
	for p, w := range want {
		if applied[p] != w {
			t.Errorf("%s after the good file:\n%q\nwant:\n%q", p, applied[p], w)
		}
	}
	if out, err := apply(good); err != nil || !strings.Contains(out, "unchanged since it was applied") {
		t.Errorf("second run: %v\n%s", err, out)
	}

	pwned := filepath.Join(n.root, "PWNED")
	hostile := []struct {
		name, doc string
		rejected  []string // the fields named, one line each
	}{
		{"command substitution", "hostname: edge-08\nnetwork:\n  mode: static\n  address: $(touch " + pwned + ")\n", []string{"network.address"}},
		{"quote breakout", "hostname: edge-08\nmetallb:\n  addresses:\n    - '\"; touch " + pwned + "; : \"'\n", []string{"metallb.addresses[0]"}},
		{"glob dns", "hostname: edge-08\nnetwork:\n  dns: [\"*\"]\n", []string{"network.dns[0]"}},
		{"CR in value", "hostname: edge-08\nnetwork:\n  mode: static\n  address: \"10.0.0.2/24\rDNS=6.6.6.6\"\n", []string{"edgeimg-device.yaml:4"}},
		{"three fields", "hostname: 'edge 08'\nlabels:\n  a: '$(touch " + pwned + ")'\nmetallb:\n  addresses: ['fd00::/120']\n", []string{"hostname", "labels.a", "metallb.addresses[0]"}},
		{"ssh options", "ssh:\n  authorizedKeys:\n    - command=\"touch " + pwned + "\" " + key1 + "\n", []string{"ssh.authorizedKeys[0]"}},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			out, err := apply(h.doc)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("device-config: %v, want exit status 1\n%s", err, out)
			}
			var rejected []string
			for _, l := range lines(out) {
				if _, r, ok := strings.Cut(l, ": rejected "); ok {
					rejected = append(rejected, r)
				}
			}
			if len(rejected) != len(h.rejected) {
				t.Errorf("rejection lines %q, want one for each of %q", rejected, h.rejected)
			}
			for i, f := range h.rejected {
				if i < len(rejected) && !strings.HasPrefix(rejected[i], f) {
					t.Errorf("rejection line %q, want %s", rejected[i], f)
				}
			}
			if !strings.HasSuffix(strings.TrimSpace(out), "not applied: keeping the current settings") {
				t.Errorf("output does not end saying nothing was applied:\n%s", out)
			}
			if got := tree(t, n.root); !maps.Equal(got, applied) {
				t.Errorf("a refused file changed the device")
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatal("a value of the device file ran")
			}
		})
	}
}
