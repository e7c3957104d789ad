//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// helloBody is what the hello app answers with the spec's TARGET.
const helloBody = "Hello edgeimg!\n"

// apiPort is k0s's API port, forwarded to the host.
const apiPort = 6443

// bootMilestones are the serial-console lines boot times are taken from.
var bootMilestones = map[string]*regexp.Regexp{
	"multi-user": regexp.MustCompile(`Reached target .*multi-user\.target`),
	"k0s":        regexp.MustCompile(`Started .*k0scontroller\.service`),
}

// TestDevice builds the image, writes its device file and boots it as a
// device (1 vCPU, the spec's memory, no route out), then checks the
// product's promise on it over three power cycles:
//
//   - first boot: k0s started by the rendered unit, the node Ready with the
//     device file's hostname and labels, network bridge's CNI links,
//     nothing imported or pulled;
//   - a clean reboot (systemctl reboot): the same again, data kept (an
//     object created before it), still nothing imported;
//   - a power cut (QEMU killed) while k0s is starting and applying: the
//     node recovers on the next boot, nothing imported, data kept; after a
//     clean power-off the root file system is clean (e2fsck -fn).
//
// With the workloads (envWorkloads, or KVM), the first boot and the
// reboot also check every stack applied (the staged ones by the
// promoter), MetalLB giving Kourier the device file's first address,
// hello Ready, scaled to zero and answering 200 through the activator
// from zero, no pod Pending, no OOM kill, no container restart. It logs
// the timings from power-on and the idle node's memory.
func TestDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Minute)
	defer cancel()
	bi := buildImage(ctx, t, false)
	writeDeviceConfig(t, bi.raw)
	fi, err := os.Stat(bi.raw)
	if err != nil {
		t.Fatal(err)
	}
	// Room for k0s's state, as a user flashing a bigger medium; the
	// image grows its root on first boot.
	imagebuild.ResizeRaw(t, bi.raw, fi.Size()+2<<30)

	d := &device{t: t, bi: bi, mem: memoryMiB(t, bi.doc.Spec.Node.Memory.Value()>>20), workloads: workloadsWanted(t), times: map[string]time.Duration{}}

	// First boot.
	d.boot(ctx, "first boot")
	d.checkUnit()
	if got := d.vm.Run("hostname"); got != deviceHostname {
		t.Errorf("hostname %q, want the device file's %s", got, deviceHostname)
	}
	c := d.waitAPI(ctx)
	node := d.waitNode(ctx, c)
	if node.Name != deviceHostname {
		t.Errorf("node %s, want the device file's hostname %s", node.Name, deviceHostname)
	}
	d.checkLabels(ctx, c)
	d.checkNoImports(ctx, c)
	if d.workloads {
		d.checkWorkloads(ctx, c, true)
	}
	t.Log(d.timingTable())
	t.Logf("node memory (TCG guest):\n%s", d.memory())
	if t.Failed() {
		return
	}

	// A clean reboot: the same node, its data kept, nothing imported.
	bootID := d.vm.Run("cat /proc/sys/kernel/random/boot_id")
	d.keepData(ctx, c)
	d.reboot(ctx)
	if d.vm.Run("cat /proc/sys/kernel/random/boot_id") == bootID {
		t.Fatalf("the boot id did not change: the VM did not reboot")
	}
	c = d.waitAPI(ctx)
	d.waitNode(ctx, c)
	d.checkKept(ctx, c)
	d.checkLabels(ctx, c)
	d.checkNoImports(ctx, c)
	if d.workloads {
		d.checkWorkloads(ctx, c, false)
	}
	t.Logf("after the reboot: %s", d.bootTimes())

	// A power cut while k0s starts and applies its stacks, then the next
	// boot recovers; after a clean power-off the file system is clean.
	d.waitAPI(ctx)
	d.powerCut(ctx)
	c = d.waitAPI(ctx)
	d.waitNode(ctx, c)
	d.checkKept(ctx, c)
	d.checkNoImports(ctx, c)
	t.Logf("after the power cut: %s", d.bootTimes())
	d.powerOff(ctx)
	t.Logf("e2fsck -fn of the root file system after the power cut and a clean power-off: %s", imagebuild.FsckRoot(t, bi.raw))
}

// checkWorkloads checks the stacks and hello on the running device; first
// also checks scale to zero and the request from zero, the pods, the
// kernel log for OOM kills, and logs the stack timings.
func (d *device) checkWorkloads(ctx context.Context, c *cluster.Clients, first bool) {
	t := d.t
	d.waitStacks(ctx, c)
	d.waitPromoter(ctx)
	rev := d.waitHello(ctx, c)
	d.checkLoadBalancer(ctx, c)
	d.checkNoImports(ctx, c)
	d.checkPods(ctx, c)
	if !first {
		return
	}
	// Scale to zero (Knative's default windows: ~90 s without traffic),
	// then back from zero on a request through the activator.
	if err := poll(ctx, 5*time.Second, 10*time.Minute, func() (bool, string) {
		n := len(d.helloPods(ctx, c, rev))
		return n == 0, fmt.Sprintf("%d hello pods", n)
	}); err != nil {
		t.Fatalf("hello did not scale to zero: %v", err)
	}
	t.Logf("hello scaled to zero")
	start := time.Now()
	code, body, err := d.activatorRequest(ctx, c, "default", rev)
	if err != nil {
		t.Fatalf("request through the activator: %v", err)
	}
	if code != 200 || body != helloBody {
		t.Fatalf("request through the activator: %d %q, want 200 %q", code, body, helloBody)
	}
	t.Logf("hello answered 200 %q through the activator %s after the request, from zero pods", strings.TrimSpace(body), time.Since(start).Round(time.Millisecond))
	d.checkNoImports(ctx, c)
	d.checkPods(ctx, c)
	d.checkNoOOM()
}

// device is the image under test and the VM booted from it.
type device struct {
	t  testing.TB
	vm *qemu.Booted
	bi *built
	// mem is the VM's memory (MiB); workloads says whether the workload
	// checks run.
	mem       int64
	workloads bool
	// times are the first boot's milestones from power-on; boots counts
	// the VM's starts.
	times map[string]time.Duration
	boots int
	// skew is the host's wall clock minus the guest's.
	skew time.Duration
	// stopSampling ends the current boot's guest sampler.
	stopSampling context.CancelFunc
	// last are the current boot's API and node Ready times from power-on.
	last map[string]time.Duration
}

// at maps a guest time stamp to the time since power-on.
func (d *device) at(ts time.Time) time.Duration {
	return ts.Add(d.skew).Sub(d.vm.VM.Started)
}

// measureClock measures the guest's wall clock against the host's.
func (d *device) measureClock() {
	before := time.Now()
	out := d.vm.Run("date +%s.%N")
	after := time.Now()
	f, err := strconv.ParseFloat(out, 64)
	if err != nil {
		d.t.Fatalf("guest date %q: %v", out, err)
	}
	guest := time.Unix(0, int64(f*1e9))
	mid := before.Add(after.Sub(before) / 2)
	d.skew = mid.Sub(guest)
	d.t.Logf("guest clock %s behind the host's (±%s)", d.skew.Round(time.Millisecond), (after.Sub(before) / 2).Round(time.Millisecond))
}

// checkUnit checks that k0s runs from the unit `edgeimg build` rendered,
// byte for byte.
func (d *device) checkUnit() {
	t := d.t
	var want string
	for _, f := range d.bi.p.Files {
		if f.Path == k0spath.UnitPath {
			want = f.SHA256
		}
	}
	if want == "" {
		t.Fatalf("the payload has no %s", k0spath.UnitPath)
	}
	if got := d.vm.Run("sha256sum " + k0spath.UnitPath + " | cut -c1-64"); got != want {
		t.Errorf("%s on the device: sha256 %s, the rendered unit's %s", k0spath.UnitPath, got, want)
	}
	if got := d.vm.Run("systemctl show -p FragmentPath --value " + k0spath.UnitName); got != k0spath.UnitPath {
		t.Errorf("%s loaded from %q", k0spath.UnitName, got)
	}
	if got := d.vm.Run("systemctl is-active " + k0spath.UnitName + " || true"); got != "active" {
		t.Fatalf("%s is %q", k0spath.UnitName, got)
	}
	// Network bridge's CNI plugins: the payload's links into the package
	// the image installed for them.
	for _, l := range d.bi.p.Links {
		if got := d.vm.Run("readlink " + l.Path + "; test -x " + l.Path + " && echo executable || true"); got != l.Target+"\nexecutable" {
			t.Errorf("%s on the device: %q, want a link to the executable %s", l.Path, got, l.Target)
		}
	}
}

// waitPromoter waits for the staged-stack promoter's unit to finish with
// success.
func (d *device) waitPromoter(ctx context.Context) {
	t := d.t
	unit := bundle.PromoterUnitName
	if err := poll(ctx, 5*time.Second, 20*time.Minute, func() (bool, string) {
		out, err := qemu.SSHRun(d.vm.Client, "systemctl show -p ActiveState,SubState,Result "+unit)
		if err != nil {
			return false, err.Error()
		}
		s := strings.Join(strings.Fields(out), " ")
		switch {
		case strings.Contains(s, "Result=success") && (strings.Contains(s, "SubState=exited") || strings.Contains(s, "SubState=dead")):
			return true, s
		case strings.Contains(s, "ActiveState=failed"):
			return true, s
		}
		return false, s
	}); err != nil {
		t.Fatalf("%s did not finish: %v", unit, err)
	}
	out := d.vm.Run("journalctl -b -u " + unit + " --no-pager -o cat | tail -n 40")
	if got := d.vm.Run("systemctl show -p Result --value " + unit); got != "success" {
		t.Fatalf("%s: Result=%s\n%s", unit, got, out)
	}
	for _, s := range d.bi.first.Bundle.Staged {
		if !strings.Contains(out, "promote-staged: "+s.Name+": applied") {
			t.Errorf("the promoter's journal does not report %s applied:\n%s", s.Name, out)
		}
	}
	t.Logf("%s succeeded", unit)
}

// checkNoOOM checks the kernel log for OOM kills.
func (d *device) checkNoOOM() {
	if out := d.vm.Run("journalctl -k -b --no-pager -o cat | grep -iE 'out of memory|oom-kill|invoked oom-killer' || true"); out != "" {
		d.t.Errorf("OOM in the kernel log:\n%s", out)
	}
}

// checkNoImports checks that nothing was imported or pulled: the content
// store holds exactly the preloaded blobs, k0s's journal has no import,
// <data-dir>/images is empty and no pod event reports a pull.
func (d *device) checkNoImports(ctx context.Context, c *cluster.Clients) {
	t := d.t
	got := strings.Fields(d.vm.Run("ls " + k0spath.Containerd(k0spath.DataDir) + "/" + blobsDir + " | sort"))
	if strings.Join(got, " ") != strings.Join(d.bi.blobs, " ") {
		t.Errorf("containerd's content store on the device: %d blobs, the preloaded %d", len(got), len(d.bi.blobs))
	}
	if out := d.vm.Run("journalctl -u " + k0spath.UnitName + " --no-pager -o cat | grep -E 'Loading OCI bundle /|Imported image' || true"); out != "" {
		t.Errorf("k0s imported images:\n%s", testkit.Tail(out, 10))
	}
	if n := d.vm.Run("ls -A " + k0spath.Images(k0spath.DataDir) + " 2>/dev/null | wc -l"); n != "0" {
		t.Errorf("%s: %s entries, want none", k0spath.Images(k0spath.DataDir), n)
	}
	if evs := c.Events(ctx, "Pulling", "Failed", "ErrImageNeverPull"); len(evs) > 0 {
		t.Errorf("image pulls or failures:\n%s", strings.Join(evs, "\n"))
	}
}

// checkPods checks that no pod is Pending and no container restarted.
func (d *device) checkPods(ctx context.Context, c *cluster.Clients) {
	t := d.t
	list, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodPending {
			t.Errorf("pod %s/%s Pending: %s", p.Namespace, p.Name, cluster.PodSummary(&p))
		}
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if cs.RestartCount > 0 {
				t.Errorf("pod %s/%s: container %s restarted %d times (last: %+v)", p.Namespace, p.Name, cs.Name, cs.RestartCount, cs.LastTerminationState.Terminated)
			}
		}
	}
}

// checkLoadBalancer checks that MetalLB gave Kourier's LoadBalancer
// Service the device file's first address.
func (d *device) checkLoadBalancer(ctx context.Context, c *cluster.Clients) {
	if err := poll(ctx, 2*time.Second, 5*time.Minute, func() (bool, string) {
		svc, err := c.CS.CoreV1().Services("kourier-system").Get(ctx, "kourier", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP == deviceLBFirst {
				return true, ""
			}
		}
		return false, fmt.Sprintf("load balancer status %+v", svc.Status.LoadBalancer.Ingress)
	}); err != nil {
		d.t.Errorf("MetalLB did not give kourier-system/kourier the device file's %s: %v", deviceLBFirst, err)
	}
}

// activatorRequest sends a request for the revision to Knative's
// activator Service, through a TCP connection the device opens (SSH
// direct-tcpip): the guest has no route from the host otherwise.
func (d *device) activatorRequest(ctx context.Context, c *cluster.Clients, ns, revision string) (int, string, error) {
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return d.vm.Client.Dial(network, addr)
		},
	}}
	return c.ActivatorRequest(ctx, hc, ns, revision)
}

// waitAPI waits for the admin kubeconfig and the API server's /readyz on
// the forwarded port (k0s turns anonymous requests away: asked as the
// admin), and returns clients with that kubeconfig pointed there.
func (d *device) waitAPI(ctx context.Context) *cluster.Clients {
	t := d.t
	admin := k0spath.DataDir + "/pki/admin.conf"
	var data string
	if err := poll(ctx, 2*time.Second, 30*time.Minute, func() (bool, string) {
		out, err := qemu.SSHRun(d.vm.Client, "cat "+admin)
		data = out
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		t.Fatalf("%s: %v", admin, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(data))
	if err != nil {
		t.Fatalf("%s: %v", admin, err)
	}
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", d.vm.VM.Ports[apiPort])
	cfg.Timeout = 30 * time.Second
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 2*time.Second, 30*time.Minute, func() (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	}); err != nil {
		t.Fatalf("API server /readyz on the forwarded port: %v", err)
	}
	d.mark("API ready", time.Since(d.vm.VM.Started))
	t.Logf("API server ready %s after power-on (/readyz polled every 2 s)", fmtDur(d.last["API ready"]))
	return cluster.New(t, cfg)
}

// waitNode waits for the one node to be Ready.
func (d *device) waitNode(ctx context.Context, c *cluster.Clients) *corev1.Node {
	t := d.t
	var node *corev1.Node
	bootID := d.vm.Run("cat /proc/sys/kernel/random/boot_id")
	if err := poll(ctx, 2*time.Second, 30*time.Minute, func() (bool, string) {
		nodes, err := c.CS.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(nodes.Items) != 1 {
			return false, fmt.Sprintf("%d nodes", len(nodes.Items))
		}
		node = &nodes.Items[0]
		if node.Status.NodeInfo.BootID != bootID {
			return false, "the node's status is from an earlier boot"
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					at := d.at(cond.LastTransitionTime.Time)
					if at <= 0 {
						// Ready since before this boot (the node
						// came back within the grace period):
						// when this boot's status was seen.
						at = time.Since(d.vm.VM.Started)
					}
					d.mark("node Ready", at)
					return true, ""
				}
				return false, cond.Reason + ": " + cond.Message
			}
		}
		return false, "no Ready condition"
	}); err != nil {
		t.Fatalf("node not Ready: %v", err)
	}
	t.Logf("node %s Ready %s after power-on; capacity %s CPU / %s, allocatable %s CPU / %s", node.Name, fmtDur(d.last["node Ready"]),
		node.Status.Capacity.Cpu(), node.Status.Capacity.Memory(), node.Status.Allocatable.Cpu(), node.Status.Allocatable.Memory())
	return node
}

// waitStacks waits until the API server has every object of every stack,
// live and staged.
func (d *device) waitStacks(ctx context.Context, c *cluster.Clients) {
	t := d.t
	var last time.Time
	if err := poll(ctx, 5*time.Second, 45*time.Minute, func() (bool, string) {
		m, l := c.MissingObjects(ctx, d.bi.first.Bundle)
		last = cluster.Latest(l)
		return len(m) == 0, fmt.Sprintf("%d objects missing, e.g. %v; pods: %s", len(m), head(m, 5), podStates(ctx, c))
	}); err != nil {
		t.Fatalf("stacks not applied: %v", err)
	}
	d.mark("stacks applied", d.at(last.Add(500*time.Millisecond)))
	t.Logf("every object of every stack applied %s after power-on (%d live stacks, %d staged)", fmtDur(d.last["stacks applied"]),
		len(d.bi.first.Bundle.Stacks), len(d.bi.first.Bundle.Staged))
}

// waitHello waits for the hello Knative Service to be Ready and returns
// its latest ready Revision.
func (d *device) waitHello(ctx context.Context, c *cluster.Clients) string {
	t := d.t
	var ksvc *unstructured.Unstructured
	if err := poll(ctx, 5*time.Second, 45*time.Minute, func() (bool, string) {
		var err error
		ksvc, err = c.Dyn.Resource(cluster.KsvcGVR).Namespace("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st, msg := cluster.Condition(ksvc, "Ready")
		return st == "True", msg + "; pods: " + podStates(ctx, c)
	}); err != nil {
		t.Fatalf("Knative Service hello not Ready: %v", err)
	}
	if ts, err := cluster.ConditionTime(ksvc, "Ready"); err == nil {
		d.mark("hello Ready", d.at(ts.Add(500*time.Millisecond)))
	}
	rev, _, _ := unstructured.NestedString(ksvc.Object, "status", "latestReadyRevisionName")
	t.Logf("Knative Service hello Ready %s after power-on (Revision %s)", fmtDur(d.last["hello Ready"]), rev)
	return rev
}

func (d *device) helloPods(ctx context.Context, c *cluster.Clients, rev string) []corev1.Pod {
	list, err := c.CS.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/revision=" + rev})
	if err != nil {
		d.t.Fatal(err)
	}
	return list.Items
}

// timingTable is the boot's milestones from power-on.
func (d *device) timingTable() string {
	var b strings.Builder
	b.WriteString("timings from power-on (QEMU TCG on this machine, 1 vCPU; guest time stamps ±1 s):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	prev := time.Duration(0)
	for _, m := range []struct{ name, how string }{
		{"multi-user", "serial console"},
		{"k0s started", "serial console"},
		{"API ready", "/readyz polled every 2 s"},
		{"node Ready", "Ready condition"},
		{"stacks applied", "last object created"},
		{"hello Ready", "Ready condition"},
	} {
		v := d.times[m.name]
		fmt.Fprintf(tw, "  %s\t%s\t+%s\t(%s)\n", m.name, fmtDur(v), fmtDur(v-prev), m.how)
		if v > 0 {
			prev = v
		}
	}
	tw.Flush()
	return b.String()
}

// memory is the idle node's memory: free, the largest processes by PSS,
// swap.
func (d *device) memory() string {
	return d.vm.Run(`free -m; echo; echo "PSS (MiB) by process name:";
for p in /proc/[0-9]*; do s=$(awk '/^Pss:/{print $2}' $p/smaps_rollup 2>/dev/null); [ -n "$s" ] && echo "$s $(cat $p/comm)"; done |
awk '{s[$2]+=$1; t+=$1} END {for (k in s) printf "%8.1f %s\n", s[k]/1024, k; printf "%8.1f total\n", t/1024}' | sort -rn | head -n 20;
echo; swapon --show || true`)
}

// dumpOnFailure logs, for the VM still running, the timings reached and
// the tail of k0s's journal when the test failed (the VM's serial log tail is logged by qemu.Start).
func (d *device) dumpOnFailure(vm *qemu.Booted) {
	if !d.t.Failed() || d.vm != vm {
		return
	}
	d.t.Log(d.timingTable())
	d.t.Logf("this boot: %s", d.bootTimes())
	out, err := qemu.SSHRun(d.vm.Client, "journalctl -u "+k0spath.UnitName+" --no-pager -o short-monotonic | tail -n 80")
	d.t.Logf("--- journalctl -u %s (tail, err %v)\n%s", k0spath.UnitName, err, out)
	out, err = qemu.SSHRun(d.vm.Client, "systemctl --failed --no-pager; "+k0spath.Binary+" kubectl get pods -A -o wide 2>&1 | head -n 40")
	d.t.Logf("--- failed units, pods (err %v)\n%s", err, out)
}

// poll is cluster.Poll within limit.
func poll(ctx context.Context, interval, limit time.Duration, f func() (done bool, note string)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return cluster.Poll(ctx, interval, f)
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
