//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// envWorkloads turns the workload checks on under TCG (they are on with
// KVM): the stacks, hello, scale to zero and the request from zero.
const envWorkloads = "EDGEIMG_E2EVM_WORKLOADS"

// workloadsWanted says whether the workload checks run: with KVM, or when
// envWorkloads is 1. Under TCG on a 2-core machine the stacks' pods take
// longer to start than a test run can wait (README: make e2e-vm).
func workloadsWanted(t interface{ Logf(string, ...any) }) bool {
	if os.Getenv(envWorkloads) == "1" {
		return true
	}
	if qemu.KVM() {
		return true
	}
	t.Logf("workload checks off under TCG (set %s=1 to run them)", envWorkloads)
	return false
}

// boot powers the VM on from the image and logs in; it starts the guest
// sampler for this boot.
func (d *device) boot(ctx context.Context, what string) {
	t := d.t
	if d.stopSampling != nil {
		d.stopSampling()
	}
	d.boots++
	d.last = map[string]time.Duration{}
	bootCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	d.vm = qemu.Boot(bootCtx, t, qemu.Config{Arch: "amd64", Disk: d.bi.raw, MemoryMiB: d.mem, CPUs: 1, Restrict: true, Forward: []int{apiPort}},
		bootMilestones, "root", ssh.PublicKeys(d.bi.signer))
	// Registered after qemu.Boot's clean-ups, so it runs before they
	// close the SSH connection and stop the VM.
	vm := d.vm
	t.Cleanup(func() { d.dumpOnFailure(vm) })
	d.mark("multi-user", d.vm.Milestones["multi-user"])
	d.mark("k0s started", d.vm.Milestones["k0s"])
	t.Logf("%s: VM (%s, 1 vCPU, %d MiB, user-net restrict=on): multi-user.target %s, k0scontroller.service started %s after power-on",
		what, qemu.Accel(), d.mem, fmtDur(d.last["multi-user"]), fmtDur(d.last["k0s started"]))
	d.measureClock()
	sampleCtx, stop := context.WithCancel(ctx)
	d.stopSampling = stop
	t.Cleanup(stop)
	sampleGuest(sampleCtx, t, d.vm, time.Minute)
}

// mark records a milestone of the current boot, and of the first boot's
// timing table.
func (d *device) mark(name string, v time.Duration) {
	d.last[name] = v
	if d.boots == 1 {
		d.times[name] = v
	}
}

// bootTimes are the current boot's milestones.
func (d *device) bootTimes() string {
	var parts []string
	for _, n := range []string{"multi-user", "k0s started", "API ready", "node Ready", "stacks applied", "hello Ready"} {
		if v, ok := d.last[n]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", n, fmtDur(v)))
		}
	}
	return strings.Join(parts, ", ") + " after power-on"
}

// shutdown runs cmd (systemctl reboot or poweroff) on the guest and waits
// for QEMU to exit (VMs run with -no-reboot: a reboot ends the process).
func (d *device) shutdown(ctx context.Context, cmd string) {
	t := d.t
	d.stopSampling()
	// The connection may drop before the command answers.
	_, _ = qemu.SSHRun(d.vm.Client, cmd)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	if err := d.vm.VM.Wait(waitCtx); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	t.Logf("%s: the VM was off %s later", cmd, time.Since(start).Round(time.Second))
}

// reboot reboots the device cleanly and logs in again.
func (d *device) reboot(ctx context.Context) {
	d.shutdown(ctx, "systemctl reboot")
	d.boot(ctx, "after a clean reboot")
}

// powerOff powers the device off cleanly.
func (d *device) powerOff(ctx context.Context) {
	d.shutdown(ctx, "systemctl poweroff")
}

// powerCut kills QEMU, as pulling the plug: what the guest had not
// written is lost. Then it powers the device on again.
func (d *device) powerCut(ctx context.Context) {
	d.stopSampling()
	applying := d.vm.Run("journalctl -u k0scontroller -b --no-pager -o cat | grep -c 'applier' || true")
	d.vm.VM.Stop()
	d.t.Logf("power cut %s after power-on (k0s running; %s applier lines in its journal this boot)", time.Since(d.vm.VM.Started).Round(time.Second), applying)
	d.boot(ctx, "after the power cut")
}

// keptName is the object created before the reboot that must survive it.
const keptName = "e2evm-kept"

// keepData creates an object the later boots must still have, retrying
// while the busy API server times requests out.
func (d *device) keepData(ctx context.Context, c *cluster.Clients) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: keptName, Namespace: "default"}, Data: map[string]string{"boot": "1"}}
	if err := poll(ctx, 5*time.Second, 10*time.Minute, func() (bool, string) {
		_, err := c.CS.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return true, ""
		}
		return false, err.Error()
	}); err != nil {
		d.t.Fatalf("create configmap %s: %v", keptName, err)
	}
}

// checkKept checks the object created before the reboot is there,
// retrying while the API server times requests out.
func (d *device) checkKept(ctx context.Context, c *cluster.Clients) {
	var cm *corev1.ConfigMap
	var getErr error
	if err := poll(ctx, 5*time.Second, 10*time.Minute, func() (bool, string) {
		cm, getErr = c.CS.CoreV1().ConfigMaps("default").Get(ctx, keptName, metav1.GetOptions{})
		return getErr == nil || apierrors.IsNotFound(getErr), fmt.Sprint(getErr)
	}); err != nil {
		d.t.Errorf("configmap %s created before the reboot: %v", keptName, err)
		return
	}
	if getErr != nil || cm.Data["boot"] != "1" {
		d.t.Errorf("configmap %s created before the reboot: %v %v", keptName, cm, getErr)
	}
}

// checkLabels waits for the device file's labels on the node: the
// promoter sets them once the node has registered.
func (d *device) checkLabels(ctx context.Context, c *cluster.Clients) {
	if err := poll(ctx, 5*time.Second, 10*time.Minute, func() (bool, string) {
		n, err := c.CS.CoreV1().Nodes().Get(ctx, deviceHostname, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for k, v := range deviceLabels {
			if n.Labels[k] != v {
				return false, fmt.Sprintf("label %s=%q, want %q", k, n.Labels[k], v)
			}
		}
		return true, ""
	}); err != nil {
		out, _ := qemu.SSHRun(d.vm.Client, "journalctl -b -u "+bundle.PromoterUnitName+" --no-pager -o cat | tail -n 20")
		d.t.Errorf("node labels from the device file: %v\npromoter journal:\n%s", err, out)
	}
}
