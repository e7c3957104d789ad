package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/edgeimg/edgeimg/internal/testkit"
)

// Firmware is a UEFI firmware pair for QEMU's pflash.
type Firmware struct {
	Code, Vars string
}

// firmwares lists where Debian's ovmf and qemu-efi-aarch64 put them.
var firmwares = map[string][]Firmware{
	"amd64": {
		{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
		{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
	},
	"arm64": {
		{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
	},
}

// Config describes a VM booting a disk image.
type Config struct {
	// Arch is amd64 or arm64.
	Arch string
	// Disk is a raw image the VM may write to.
	Disk      string
	MemoryMiB int64
	CPUs      int
	// SerialLog receives the serial console.
	SerialLog string
	// Restrict isolates the guest from the host's network (user-net
	// restrict=on): nothing but the forwarded ports.
	Restrict bool
	// Forward lists guest TCP ports, besides 22, forwarded to free ports
	// on the host's loopback (VM.Ports).
	Forward []int
}

// VM is a running QEMU VM with its SSH port forwarded to the host.
type VM struct {
	cmd     *exec.Cmd
	SSHPort int
	// Ports maps each port of Config.Forward to its host port.
	Ports   map[int]int
	Serial  string
	Started time.Time
	done    chan error
	once    sync.Once
}

// System returns the qemu-system binary and firmware for arch, or
// skips/fails (EDGEIMG_CI) when they are not installed.
func System(t testing.TB, arch string) (string, Firmware) {
	t.Helper()
	bin, pkg := "qemu-system-x86_64", "qemu-system-x86 ovmf"
	if arch == "arm64" {
		bin, pkg = "qemu-system-aarch64", "qemu-system-arm qemu-efi-aarch64"
	}
	p, err := exec.LookPath(bin)
	testkit.Require(t, err == nil, bin+" not found (apt-get install "+pkg+")")
	for _, fw := range firmwares[arch] {
		if _, err := os.Stat(fw.Code); err == nil {
			if _, err := os.Stat(fw.Vars); err == nil {
				return p, fw
			}
		}
	}
	testkit.Require(t, false, "UEFI firmware for "+arch+" not found (apt-get install "+pkg+")")
	return "", Firmware{}
}

// KVM reports whether KVM runs guests here: /dev/kvm opens, and UEFI
// firmware started under KVM reaches its boot manager within 10 s (on
// these build machines /dev/kvm opens but a KVM guest never runs: they
// use TCG). Probed once per process.
func KVM() bool {
	kvmOnce.Do(func() { kvmWorks = probeKVM() })
	return kvmWorks
}

var (
	kvmOnce  sync.Once
	kvmWorks bool
)

func probeKVM() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	bin := "qemu-system-x86_64"
	machine := []string{"-M", "q35", "-cpu", "host"}
	if runtime.GOARCH == "arm64" {
		bin, machine = "qemu-system-aarch64", []string{"-M", "virt", "-cpu", "host"}
	}
	fws := firmwares[runtime.GOARCH]
	if len(fws) == 0 {
		return false
	}
	dir, err := os.MkdirTemp("", "edgeimg-kvm-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	serial := filepath.Join(dir, "serial.log")
	for _, fw := range fws {
		if _, err := os.Stat(fw.Code); err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		args := append(machine, "-accel", "kvm", "-m", "256", "-nographic", "-nodefaults", "-monitor", "none",
			"-drive", "if=pflash,format=raw,readonly=on,file="+fw.Code, "-serial", "file:"+serial)
		cmd := exec.CommandContext(ctx, bin, args...)
		if err := cmd.Start(); err != nil {
			cancel()
			return false
		}
		ok := false
		for ctx.Err() == nil && !ok {
			data, _ := os.ReadFile(serial)
			ok = bytes.Contains(data, []byte("BdsDxe"))
			time.Sleep(200 * time.Millisecond)
		}
		cancel()
		cmd.Wait()
		return ok
	}
	return false
}

// Accel is the accelerator VMs of the host's architecture run with: kvm
// where KVM works, else tcg.
func Accel() string { return accel(runtime.GOARCH) }

func accel(arch string) string {
	if arch == runtime.GOARCH && KVM() {
		return "kvm"
	}
	return "tcg"
}

// Start boots cfg.Disk under KVM where it works for the guest's
// architecture, else TCG (KVM does not work on these build machines),
// with UEFI firmware, user-mode networking and the guest's port 22
// forwarded to a free host port. The VM is killed when the test ends.
func Start(t testing.TB, cfg Config) *VM {
	t.Helper()
	bin, fw := System(t, cfg.Arch)
	dir := t.TempDir()
	vars := filepath.Join(dir, "vars.fd")
	data, err := os.ReadFile(fw.Vars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, data, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	netdev := fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port)
	if cfg.Restrict {
		netdev += ",restrict=on"
	}
	ports := map[int]int{}
	for _, g := range cfg.Forward {
		h, err := testkit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[g] = h
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", h, g)
	}
	args := []string{
		"-accel", accel(cfg.Arch), "-m", strconv.FormatInt(cfg.MemoryMiB, 10), "-smp", strconv.Itoa(cfg.CPUs),
		"-nographic", "-no-reboot", "-nodefaults",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + fw.Code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-drive", "file=" + cfg.Disk + ",format=raw,if=none,id=d0",
		"-device", "virtio-blk-pci,drive=d0",
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:" + cfg.SerialLog,
		"-monitor", "none",
	}
	if accel(cfg.Arch) == "kvm" {
		args = append([]string{"-cpu", "host"}, args...)
	}
	if cfg.Arch == "arm64" {
		cpu := []string{"-cpu", "cortex-a72"}
		if accel(cfg.Arch) == "kvm" {
			cpu = nil
		}
		args = append(append([]string{"-M", "virt"}, cpu...), args...)
	} else {
		args = append([]string{"-M", "q35"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	vm := &VM{cmd: cmd, SSHPort: port, Ports: ports, Serial: cfg.SerialLog, Started: time.Now(), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { vm.done <- cmd.Wait() }()
	t.Cleanup(func() {
		vm.Stop()
		if t.Failed() {
			if data, err := os.ReadFile(cfg.SerialLog); err == nil {
				if len(data) > 4096 {
					data = data[len(data)-4096:]
				}
				t.Logf("serial log (last 4 KiB):\n%s", data)
			}
			if stderr.Len() > 0 {
				t.Logf("qemu stderr: %s", stderr.String())
			}
		}
	})
	return vm
}

// Stop kills the VM.
func (vm *VM) Stop() {
	vm.once.Do(func() {
		vm.cmd.Process.Kill()
		<-vm.done
	})
}

// Wait waits until QEMU exits (the guest powered off, or rebooted: VMs
// run with -no-reboot) or ctx ends.
func (vm *VM) Wait(ctx context.Context) error {
	select {
	case err := <-vm.done:
		vm.done <- err
		return nil
	case <-ctx.Done():
		return fmt.Errorf("VM still running: %w", ctx.Err())
	}
}

// WaitSerial waits until the serial log matches re and returns the time
// since the VM started when it did.
func (vm *VM) WaitSerial(ctx context.Context, re *regexp.Regexp) (time.Duration, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _ := os.ReadFile(vm.Serial)
		if re.Match(data) {
			return time.Since(vm.Started), nil
		}
		select {
		case err := <-vm.done:
			vm.done <- err
			return 0, fmt.Errorf("VM exited (%v) before the serial log matched %s", err, re)
		case <-ctx.Done():
			return 0, fmt.Errorf("serial log did not match %s: %w", re, ctx.Err())
		case <-tick.C:
		}
	}
}

// Milestones waits until the serial log has matched every pattern and
// returns, per name, the time since the VM started at which its match was
// first seen (polled every 250 ms).
func (vm *VM) Milestones(ctx context.Context, patterns map[string]*regexp.Regexp) (map[string]time.Duration, error) {
	seen := map[string]time.Duration{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _ := os.ReadFile(vm.Serial)
		for name, re := range patterns {
			if _, ok := seen[name]; !ok && re.Match(data) {
				seen[name] = time.Since(vm.Started)
			}
		}
		if len(seen) == len(patterns) {
			return seen, nil
		}
		select {
		case err := <-vm.done:
			vm.done <- err
			return seen, fmt.Errorf("VM exited (%v) before the serial log showed %v", err, missing(patterns, seen))
		case <-ctx.Done():
			return seen, fmt.Errorf("serial log did not show %v: %w", missing(patterns, seen), ctx.Err())
		case <-tick.C:
		}
	}
}

func missing(patterns map[string]*regexp.Regexp, seen map[string]time.Duration) []string {
	var out []string
	for name := range patterns {
		if _, ok := seen[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// SSH connects to the VM as user with the signer, retrying until ctx ends.
func (vm *VM) SSH(ctx context.Context, user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
	addr := fmt.Sprintf("127.0.0.1:%d", vm.SSHPort)
	var last error
	for {
		c, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return c, nil
		}
		last = err
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ssh %s: %v (last error: %w)", addr, ctx.Err(), last)
		case <-time.After(2 * time.Second):
		}
	}
}

// SSHRun runs a command over SSH and returns its combined output.
func SSHRun(c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", cmd, err, out)
	}
	return string(out), nil
}
