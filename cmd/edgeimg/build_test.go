package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

func runImageApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"edgeimg"}, args...))
	return out.String(), err
}

func TestBoardsCommand(t *testing.T) {
	out, err := runImageApp(t, "boards")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x86_64-efi", "arm64-efi", "rpi4", "rpi5: Debian's arm64 kernel"} {
		if !strings.Contains(out, want) {
			t.Errorf("boards output lacks %q:\n%s", want, out)
		}
	}
}

func TestBuildCommandDryRunAndErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	out, err := runImageApp(t, "build", "-o", dir, "--dry-run", "--format", "raw,qcow2")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{"Debian base", "[DRY-RUN]", "edge-x86_64-efi.qcow2", "would write to " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("dry run created the output directory")
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--board", "pi9"}, `unknown board`},
		{[]string{"--format", "iso"}, `format "iso": unknown`},
		{[]string{"--board", "rpi5"}, "Raspberry Pi 5 drivers"},
	}
	for _, tt := range tests {
		_, err := runImageApp(t, append([]string{"build", "-o", dir}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("build %v = %v, want %q", tt.args, err, tt.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("build %v left the output directory", tt.args)
		}
	}
}

func TestDeviceConfigCommand(t *testing.T) {
	tr := imagebuild.Tools(t)
	dir := t.TempDir()
	l, err := disk.NewLayout(disk.GPT, "amd64", 64<<20, 40<<20, "cli-test")
	if err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(dir, "boot.fat")
	fa := &disk.FAT{Tools: tr, Label: "ESP", Epoch: 1735689600}
	if err := fa.Make(context.Background(), boot, l.Boot.Size, []disk.FATFile{{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("efi")}}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	os.WriteFile(root, []byte("x"), 0o644)
	img := filepath.Join(dir, "edge.img")
	if err := disk.Assemble(img, l, boot, root); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("hostname: Not_A_Host\n"), 0o644)
	if _, err := runImageApp(t, "device-config", "-i", img, "-f", bad); err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("bad device file: %v", err)
	}
	good := filepath.Join(dir, "dev.yaml")
	os.WriteFile(good, []byte("hostname: edge-42\nnetwork:\n  mode: static\n  address: 192.168.1.42/24\n  gateway: 192.168.1.1\n"), 0o644)
	out, err := runImageApp(t, "device-config", "-i", img, "-f", good)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = runImageApp(t, "device-config", "-i", img, "--print")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := device.Parse("printed", []byte(out))
	if err != nil || cfg.Hostname != "edge-42" || cfg.Network.Address != "192.168.1.42/24" {
		t.Errorf("printed device file %q: %+v %v", out, cfg, err)
	}
}
