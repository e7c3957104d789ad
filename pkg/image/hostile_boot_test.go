package image_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// hostileDevice is an edgeimg-device.yaml as an attacker with the SD card
// for a minute would write it (issue 11): command substitutions, a quote
// breakout and a glob, in the fields the node used to put into device.env
// (sourced as root) and the .network file.
const hostileDevice = `hostname: $(touch /PWNED)
network:
  mode: static
  address: '"; touch /PWNED; : "'
  dns: ["*"]
metallb:
  addresses:
    - '$(touch /PWNED)'
labels:
  site: '` + "`touch /PWNED`" + `'
`

// writeRawDeviceFile puts data on the image's boot partition as the
// device file, unchecked, the way anyone with the card can.
func writeRawDeviceFile(t *testing.T, img string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := device.BootPartition(f)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := disk.FATPartition(f, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.WriteFATFile(fsys, "/"+device.FileName, data, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
}

// TestBootX86HostileDevice boots the x86_64 image with a hostile device
// file: nothing in it runs, the device boots with its built-in settings,
// and the journal of edgeimg-device.service names every rejected field.
func TestBootX86HostileDevice(t *testing.T) {
	signer, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "x86_64-efi", key)
	p, _ := testPayload(t, "amd64")
	_, out := build(t, image.Options{Spec: d, Payload: p, EnableUnits: []string{"k0scontroller.service"}, Formats: []string{"raw"}})
	img := filepath.Join(t.TempDir(), "disk.img")
	copySparse(t, filepath.Join(out, "edge-x86_64-efi.img"), img)
	if _, err := device.Parse(device.FileName, []byte(hostileDevice)); err == nil {
		t.Fatal("the Go validator accepts the hostile file")
	}
	writeRawDeviceFile(t, img, []byte(hostileDevice))

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	vm := boot(ctx, t, d, "amd64", img, signer)
	t.Logf("boot under TCG with the hostile device file: multi-user.target after %.1fs, k0scontroller.service after %.1fs", vm.Milestones["multi-user"].Seconds(), vm.Milestones["k0s"].Seconds())
	run := vm.Run
	if got := run("ls -a / | grep -c PWNED || true"); got != "0" {
		t.Errorf("the hostile device file ran a command: /PWNED exists")
	}
	if got := run("hostname"); got != d.Spec.OS.Hostname {
		t.Errorf("hostname = %q, want the image's %q", got, d.Spec.OS.Hostname)
	}
	if got, want := run("cat /etc/edgeimg/device.env"), strings.TrimSpace(string(device.DefaultsEnv(d.Spec.OS.Hostname, d.Spec.MetalLB.Addresses))); got != want {
		t.Errorf("device.env changed:\n%s\nwant the defaults:\n%s", got, want)
	}
	if got := run("ls /etc/systemd/network/"); strings.Contains(got, "10-edgeimg-device.network") {
		t.Errorf("a .network file was written from the hostile file: %s", got)
	}
	if got := run("systemctl is-active k0scontroller.service; systemctl is-failed edgeimg-device.service || true"); got != "active\nfailed" {
		t.Errorf("k0s and the device unit: %q, want active and failed", got)
	}
	journal := run("journalctl -b -u edgeimg-device.service --no-pager -o cat")
	var rejected []string
	for _, l := range strings.Split(journal, "\n") {
		if _, r, ok := strings.Cut(l, ": rejected "); ok {
			field, _, _ := strings.Cut(r, ":")
			rejected = append(rejected, field)
		}
	}
	if want := []string{"hostname", "network.address", "network.dns[0]", "metallb.addresses[0]", "labels.site"}; strings.Join(rejected, " ") != strings.Join(want, " ") {
		t.Errorf("rejected fields in the journal %q, want one line each for %q:\n%s", rejected, want, journal)
	}
	if !strings.Contains(journal, "not applied: keeping the current settings") {
		t.Errorf("the journal does not say the file was not applied:\n%s", journal)
	}
	t.Logf("journalctl -u edgeimg-device:\n%s", journal)
}
