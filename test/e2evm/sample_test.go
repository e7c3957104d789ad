//go:build e2evm

package e2evm

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
)

// Diagnostic knobs for runs that look for why the device is slow under
// TCG; unset, the test runs the device as the spec says.
const (
	// envMemory overrides the VM's memory (MiB), e.g. to tell memory
	// pressure from CPU starvation.
	envMemory = "EDGEIMG_E2EVM_MEMORY"
	// envKubeletTimeout sets the kubelet's runtimeRequestTimeout in the
	// harness spec's worker profile (a duration, e.g. 20m).
	envKubeletTimeout = "EDGEIMG_E2EVM_KUBELET_TIMEOUT"
)

// memoryMiB is the VM's memory: the spec's, unless envMemory says.
func memoryMiB(t testing.TB, spec int64) int64 {
	v := os.Getenv(envMemory)
	if v == "" {
		return spec
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 512 {
		t.Fatalf("%s=%q: want MiB (at least 512)", envMemory, v)
	}
	t.Logf("VM memory %d MiB from %s (the spec says %d MiB)", n, envMemory, spec)
	return n
}

// sampleGuest logs, every interval until ctx ends, the guest's load,
// memory and pressure stall figures (PSI), and the pods' containers that
// are running, so a slow run says whether CPU or memory held it back.
func sampleGuest(ctx context.Context, t testing.TB, vm *qemu.Booted, interval time.Duration) {
	const cmd = `echo "load $(cut -d' ' -f1-3 /proc/loadavg)"; free -m | awk 'NR==2{print "mem used " $3 " MiB, available " $7 " MiB"}';
for r in cpu memory io; do echo "psi $r $(head -n1 /proc/pressure/$r 2>/dev/null)"; done;
echo "containers running: $(ls /run/k0s/containerd/io.containerd.runtime.v2.task/k8s.io /run/containerd/io.containerd.runtime.v2.task/k8s.io 2>/dev/null | grep -vc :)"`
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			out, err := qemu.SSHRun(vm.Client, cmd)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Logf("guest sample at %s: %v", time.Since(vm.VM.Started).Round(time.Second), err)
				continue
			}
			t.Logf("guest at %s: %s", time.Since(vm.VM.Started).Round(time.Second), strings.Join(strings.Split(strings.TrimSpace(out), "\n"), "; "))
		}
	}()
}
