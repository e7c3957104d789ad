package image

import (
	"strings"
	"testing"
)

func TestBoardsParse(t *testing.T) {
	bs, err := Boards()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*Board{}
	for _, b := range bs {
		names[b.Name] = b
	}
	for _, n := range []string{"x86_64-efi", "arm64-efi", "rpi4"} {
		b, err := LookupBoard(n)
		if err != nil || b != nil && b.Unsupported != "" {
			t.Errorf("LookupBoard(%s) = %v", n, err)
		}
	}
	if _, ok := names["rpi5"]; !ok {
		t.Error("rpi5 is not listed (it must be, to explain why it is refused)")
	}
}

func TestParseBoardErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"x.yaml", "name: y\n", "does not match the file name"},
		{"x.yaml", "name: x\nfoo: 1\n", "field foo not found"},
		{"x.yaml", "name: x\narch: s390x\npartitionTable: gpt\nbootloader: systemd-boot\nefiBinary: a\nefiBootName: b\nbootPartition: {size: 256Mi, label: ESP, mountPoint: /boot/efi}\n", "arch \"s390x\""},
		{"x.yaml", "name: x\narch: amd64\npartitionTable: mbr\nbootloader: systemd-boot\nefiBinary: a\nefiBootName: b\nbootPartition: {size: 256Mi, label: ESP, mountPoint: /boot/efi}\n", "gpt partition table"},
		{"x.yaml", "name: x\narch: amd64\npartitionTable: gpt\nbootloader: systemd-boot\nefiBinary: a\nefiBootName: b\nbootPartition: {size: 8Mi, label: ESP, mountPoint: /boot/efi}\n", "at least 64Mi"},
	}
	for _, tt := range tests {
		_, err := parseBoard(tt.name, []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseBoard(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	if !versionLess("/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-10-amd64") || versionLess("/boot/vmlinuz-6.12.1", "/boot/vmlinuz-6.9.9") {
		t.Error("kernel versions compare as strings")
	}
}
