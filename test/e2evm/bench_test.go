//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// BenchmarkDeviceStart (make bench-vm) boots the end-to-end image twice,
// one after the other in one run: its images preloaded into containerd's
// store (edgeimg's way: nothing imported at start) and the same image
// with them as k0s's import bundle in <data-dir>/images (k0s's own airgap
// way, imported at every start). It prints, side by side, the times from
// power-on to k0s started, API ready, node Ready and every image usable by
// the kubelet (listed by containerd's CRI namespace), and with the
// workloads (KVM or EDGEIMG_E2EVM_WORKLOADS=1) to hello Ready, with the
// ratio preloaded/bundle. Under TCG these are emulator figures: disk and
// CPU slow like an SD-card board, not a device's.
func BenchmarkDeviceStart(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Minute)
	defer cancel()
	variants := []struct {
		name   string
		bundle bool
	}{{"preloaded", false}, {"bundle", true}}
	if os.Getenv("EDGEIMG_BENCH_ORDER") == "bundle-first" {
		variants[0], variants[1] = variants[1], variants[0]
	}
	results := map[string]map[string]time.Duration{}
	var workloads bool
	for range b.N {
		for _, v := range variants {
			bi := buildImage(ctx, b, v.bundle)
			writeDeviceConfig(b, bi.raw)
			fi, err := os.Stat(bi.raw)
			if err != nil {
				b.Fatal(err)
			}
			imagebuild.ResizeRaw(b, bi.raw, fi.Size()+2<<30)
			d := &device{t: b, bi: bi, mem: memoryMiB(b, bi.doc.Spec.Node.Memory.Value()>>20), workloads: workloadsWanted(b), times: map[string]time.Duration{}}
			workloads = d.workloads
			d.boot(ctx, v.name)
			c := d.waitAPI(ctx)
			d.waitNode(ctx, c)
			d.waitImages(ctx)
			if d.workloads {
				d.waitStacks(ctx, c)
				d.waitHello(ctx, c)
			}
			results[v.name] = d.last
			b.Logf("%s: %s", v.name, d.bootTimes())
			d.stopSampling()
			d.vm.VM.Stop()
		}
	}
	names := []string{"k0s started", "API ready", "node Ready", "images usable"}
	if workloads {
		names = append(names, "hello Ready")
	}
	var out strings.Builder
	fmt.Fprintf(&out, "device start from power-on (%s, 1 vCPU, order %s then %s):\n", qemu.Accel(), variants[0].name, variants[1].name)
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "milestone\tpreloaded\tbundle\tpreloaded/bundle\t")
	for _, n := range names {
		p, bu := results["preloaded"][n], results["bundle"][n]
		ratio := "-"
		if p > 0 && bu > 0 {
			ratio = strconv.FormatFloat(p.Seconds()/bu.Seconds(), 'f', 2, 64) + "x"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", n, fmtDur(p), fmtDur(bu), ratio)
		if p > 0 {
			b.ReportMetric(p.Seconds(), "s-preloaded-"+strings.ReplaceAll(n, " ", "-"))
		}
		if bu > 0 {
			b.ReportMetric(bu.Seconds(), "s-bundle-"+strings.ReplaceAll(n, " ", "-"))
		}
	}
	tw.Flush()
	fmt.Print(out.String())
}

// waitImages waits until containerd's CRI namespace lists every image of
// the payload (pinned by digest): the kubelet can use them. With the
// preloaded store that is at once; with a bundle, after k0s imported it.
func (d *device) waitImages(ctx context.Context) {
	want := len(d.bi.images)
	cmd := k0spath.Binary + " ctr -n k8s.io images ls -q 2>/dev/null | grep -c @sha256: || true"
	if err := poll(ctx, 2*time.Second, 30*time.Minute, func() (bool, string) {
		out, err := qemu.SSHRun(d.vm.Client, cmd)
		if err != nil {
			return false, err.Error()
		}
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n >= want, fmt.Sprintf("%d of %d images listed", n, want)
	}); err != nil {
		d.t.Fatalf("images not usable: %v", err)
	}
	d.mark("images usable", time.Since(d.vm.VM.Started))
}
