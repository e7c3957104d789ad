package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the plan as an indented JSON document.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteTable writes the plan as tables: every container before → after,
// then the node's budget and the verdict.
func (p *Plan) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tNAMESPACE/NAME\tCONTAINER\tCPU REQ\tMEM REQ\tCPU LIM\tMEM LIM\tIDLE MEM")
	for _, wl := range p.Sorted() {
		name := wl.Namespace + "/" + wl.Name
		container := wl.Container
		if wl.Init {
			container += " (init)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", wl.Source, name, container,
			change(wl.OriginalRequests.CPUMilli, wl.Requests.CPUMilli, cpu),
			change(wl.OriginalRequests.MemoryBytes, wl.Requests.MemoryBytes, mem),
			change(wl.OriginalLimits.CPUMilli, wl.Limits.CPUMilli, cpu),
			change(wl.OriginalLimits.MemoryBytes, wl.Limits.MemoryBytes, mem),
			mem(wl.IdleMemoryBytes))
	}
	t := p.Totals
	fmt.Fprintf(tw, "TOTAL\t\t\t%s\t%s\t%s\t%s\t%s\n",
		change(t.OriginalRequests.CPUMilli, t.Requests.CPUMilli, cpu),
		change(t.OriginalRequests.MemoryBytes, t.Requests.MemoryBytes, mem),
		change(t.OriginalLimits.CPUMilli, t.Limits.CPUMilli, cpu),
		change(t.OriginalLimits.MemoryBytes, t.Limits.MemoryBytes, mem),
		mem(t.PodIdleMemoryBytes))
	if err := tw.Flush(); err != nil {
		return err
	}

	n := p.Node
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE BUDGET\tCPU\tMEMORY\t")
	fmt.Fprintf(tw, "capacity\t%s\t%s\t\n", cpu(n.CPUMilli), mem(n.MemoryBytes))
	how := "spec.node.reserved"
	if n.ReservedComputed {
		how = "computed from known working sets"
	}
	fmt.Fprintf(tw, "reserved for OS + k0s control plane (%s)\t-%s\t-%s\t\n", how, cpu(n.ReservedCPUMilli), mem(n.ReservedMemoryBytes))
	fmt.Fprintf(tw, "eviction threshold (memory.available)\t\t-%s\t\n", mem(n.EvictionHardBytes))
	fmt.Fprintf(tw, "allocatable\t%s\t%s\t\n", cpu(n.AllocatableCPUMilli), mem(n.AllocatableMemoryBytes))
	fmt.Fprintf(tw, "requests, upstream as released\t%s\t%s\t\n", cpu(t.OriginalRequests.CPUMilli), mem(t.OriginalRequests.MemoryBytes))
	fmt.Fprintf(tw, "requests, %s\t%s\t%s\t\n", p.strategyName(), cpu(t.Requests.CPUMilli), mem(t.Requests.MemoryBytes))
	fmt.Fprintf(tw, "free for user pods (headroom asked: %s / %s)\t%s\t%s\t\n", cpu(t.HeadroomCPUMilli), mem(t.HeadroomMemoryBytes), signed(t.Free.CPUMilli, cpu), signed(t.Free.MemoryBytes, mem))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nexpected idle memory: pods %s + OS and control plane %s = %s of %s\n",
		mem(t.PodIdleMemoryBytes), mem(t.ControlPlaneMemory), mem(t.IdleMemoryBytes), mem(n.MemoryBytes))
	if p.QueueProxyCPURequestMilli > 0 {
		fmt.Fprintf(w, "queue-proxy CPU request (config-deployment queue-sidecar-cpu-request): %s\n", cpu(p.QueueProxyCPURequestMilli))
	}
	if err := p.writeMaxScale(w); err != nil {
		return err
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w, p.Verdict())
	return nil
}

// Verdict is the one-line result.
func (p *Plan) Verdict() string {
	t := p.Totals
	if p.Fits {
		return fmt.Sprintf("verdict: FITS — %s CPU and %s memory left for user pods", cpu(t.Free.CPUMilli), mem(t.Free.MemoryBytes))
	}
	var short []string
	if p.Shortfall.CPUMilli > 0 {
		short = append(short, cpu(p.Shortfall.CPUMilli)+" CPU")
	}
	if p.Shortfall.MemoryBytes > 0 {
		short = append(short, mem(p.Shortfall.MemoryBytes)+" memory")
	}
	return "verdict: DOES NOT FIT — requests exceed allocatable by " + strings.Join(short, " and ") + "; pods would stay Pending"
}

func (p *Plan) strategyName() string {
	switch p.Strategy {
	case "scale":
		return fmt.Sprintf("after scale ×%g", p.Factor)
	case "none":
		return "unchanged (strategy none)"
	}
	return "after fit"
}

func cpu(m int64) string {
	if m == 0 {
		return "-"
	}
	if m%1000 == 0 {
		return fmt.Sprintf("%d", m/1000)
	}
	return fmt.Sprintf("%dm", m)
}

func mem(b int64) string {
	if b == 0 {
		return "-"
	}
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%dMi", b>>20)
	}
	return fmt.Sprintf("%.1fMi", float64(b)/(1<<20))
}

func signed(v int64, f func(int64) string) string {
	switch {
	case v < 0:
		return "-" + f(-v)
	case v == 0:
		return "0"
	}
	return f(v)
}

func change(before, after int64, f func(int64) string) string {
	if before == after {
		return f(after)
	}
	return f(before) + "→" + f(after)
}
