package device

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testenv"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

const key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdnqBkqAmR0nX2JxQn9fBqv0cR2w8xEo8N8qVYbKXyE admin@laptop"

// awkPath is the node's reader, run here with the host's awk.
func awkPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../overlays/base/usr/lib/edgeimg/device-yaml.awk")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nodeFlatten(t *testing.T, doc string) ([]string, error) {
	t.Helper()
	awk := testenv.NeedHostCommand(t, "awk", "mawk")
	cmd := exec.Command(awk, "-f", awkPath(t))
	cmd.Stdin = strings.NewReader(doc)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &exec.ExitError{Stderr: stderr.Bytes()}
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	sort.Strings(lines)
	return lines, nil
}

// TestNodeReaderMatchesGo feeds the same files to the Go parser and to the
// awk reader the node runs, and requires the same values.
func TestNodeReaderMatchesGo(t *testing.T) {
	docs := map[string]string{
		"canonical": string((&Config{
			Hostname: "edge-01",
			Network:  &Network{Mode: "static", Interface: "eth0", Address: "192.168.1.20/24", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1", "9.9.9.9"}},
			SSH:      &SSH{AuthorizedKeys: []string{key1}},
			MetalLB:  &MetalLB{Addresses: []string{"192.168.1.240-192.168.1.250", "10.0.0.0/28"}},
			Labels:   map[string]string{"example.com/site": "berlin", "tier": "edge"},
		}).Marshal()),
		"hand-written": `# my device
hostname: edge-02   # the name
network:
  mode: dhcp
  dns: [1.1.1.1, '9.9.9.9']

ssh:
  authorizedKeys:
  - ` + key1 + `
metallb:
  addresses:
    - "192.168.5.0/28"
labels:
  'role': "worker"
  example.com/rack: r1 # trailing comment
`,
		"flow and quotes": `hostname: "edge-03"
metallb:
  addresses: ["192.168.7.10", 192.168.7.20-192.168.7.30]
`,
		"empty": "# nothing set\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			c, err := Parse(name, []byte(doc))
			if err != nil {
				t.Fatalf("Go: %v", err)
			}
			want := c.Flatten()
			got, err := nodeFlatten(t, doc)
			if err != nil {
				t.Fatalf("node reader failed: %v: %s", err, err.(*exec.ExitError).Stderr)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("node reader:\n%s\nGo:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestNodeReaderRefuses: YAML outside the subset makes the node apply
// nothing, with the line named.
func TestNodeReaderRefuses(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"deep nesting", "network:\n  mode: static\n    x: 1\n", ":3: nesting deeper"},
		{"anchor", "hostname: &a edge\n", ":1: unsupported YAML syntax"},
		{"tab indent", "network:\n\tmode: dhcp\n", ":2: tabs"},
		{"orphan item", "- a\n", ":1: list item outside a list"},
		{"unterminated quote", "hostname: \"edge\n", ":1: unterminated"},
		{"block scalar", "hostname: |\n  edge\n", ":1: unsupported YAML syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := nodeFlatten(t, tt.doc)
			if err == nil {
				t.Fatal("node reader accepted it")
			}
			if msg := string(err.(*exec.ExitError).Stderr); !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q, want %q", msg, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown key", "hostnme: a\n", "field hostnme not found"},
		{"bad hostname", "hostname: Edge_1\n", "hostname: \"Edge_1\": expected a host name"},
		{"static without address", "network:\n  mode: static\n", "network.address"},
		{"address with dhcp", "network:\n  address: 10.0.0.2/24\n", "network.mode"},
		{"bad mode", "network:\n  mode: ppp\n", "expected dhcp or static"},
		{"gateway outside", "network:\n  mode: static\n  address: 10.0.0.2/24\n  gateway: 10.0.1.1\n", "network.gateway: 10.0.1.1 is not in 10.0.0.0/24"},
		{"bad dns", "network:\n  dns: [one]\n", "network.dns[0]"},
		{"bad key", "ssh:\n  authorizedKeys: [hello]\n", "ssh.authorizedKeys[0]: not an SSH public key"},
		{"overlap", "metallb:\n  addresses: [10.0.0.0/28, 10.0.0.5]\n", "metallb.addresses[1]"},
		{"bad label key", "labels:\n  -bad: x\n", "labels.-bad"},
		{"bad label value", "labels:\n  a: 'x y'\n", "labels.a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dev.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestWriteImage writes a device file into a real two-partition image
// (GPT and MBR) and checks it with the host's fsck.fat and mtools.
func TestWriteImage(t *testing.T) {
	fsck := testenv.NeedHostCommand(t, "fsck.fat", "dosfstools")
	testenv.NeedHostCommand(t, "mtype", "mtools")
	tr := testenv.ImageTools(t)
	for _, table := range []string{disk.GPT, disk.MBR} {
		t.Run(table, func(t *testing.T) {
			dir := t.TempDir()
			l, err := disk.NewLayout(table, "arm64", 64<<20, 40<<20, "dev-test")
			if err != nil {
				t.Fatal(err)
			}
			boot, root := filepath.Join(dir, "boot.fat"), filepath.Join(dir, "root.ext4")
			fa := &disk.FAT{Tools: tr, Label: "ESP", Epoch: 1735689600}
			if err := fa.Make(context.Background(), boot, l.Boot.Size, []disk.FATFile{{Path: "/EFI/BOOT/BOOTAA64.EFI", Data: []byte("efi")}, {Path: "/" + FileName, Data: []byte("hostname: old\n")}}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(root, []byte("root"), 0o644); err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(dir, "edge.img")
			if err := disk.Assemble(img, l, boot, root); err != nil {
				t.Fatal(err)
			}
			before, err := ReadImage(img)
			if err != nil || string(before) != "hostname: old\n" {
				t.Fatalf("ReadImage before = %q, %v", before, err)
			}
			cfg := &Config{Hostname: "edge-07", Labels: map[string]string{"site": "x"}}
			if err := WriteImage(img, cfg); err != nil {
				t.Fatal(err)
			}
			if err := WriteImage(img, &Config{Hostname: "BAD NAME"}); err == nil {
				t.Fatal("invalid config written")
			}
			after, err := ReadImage(img)
			if err != nil || !bytes.Equal(after, cfg.Marshal()) {
				t.Fatalf("ReadImage after = %q, %v", after, err)
			}
			part := filepath.Join(dir, "part.fat")
			extract(t, img, l.Boot.Start, l.Boot.Size, part)
			if out, err := exec.Command(fsck, "-n", part).CombinedOutput(); err != nil {
				t.Fatalf("fsck.fat -n after WriteImage: %v\n%s", err, out)
			}
			out, err := exec.Command("mtype", "-i", part, "::/"+FileName).Output()
			if err != nil || !bytes.Equal(out, cfg.Marshal()) {
				t.Fatalf("mtype = %q, %v", out, err)
			}
			out, err = exec.Command("mtype", "-i", part, "::/EFI/BOOT/BOOTAA64.EFI").Output()
			if err != nil || string(out) != "efi" {
				t.Fatalf("other files damaged: %q, %v", out, err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
		})
	}
}

func extract(t *testing.T, img string, off, size int64, dst string) {
	t.Helper()
	data := make([]byte, size)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
