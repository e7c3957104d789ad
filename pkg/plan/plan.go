package plan

import (
	"fmt"
	"sort"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Compute fits the workloads to the node per the strategy.
func Compute(in Input) (*Plan, error) {
	p := &Plan{Strategy: in.Resources.Strategy}
	if p.Strategy == "" {
		p.Strategy = spec.StrategyFit
	}
	p.Workloads = make([]Workload, len(in.Workloads))
	copy(p.Workloads, in.Workloads)
	for i := range p.Workloads {
		w := &p.Workloads[i]
		w.Requests, w.Limits = w.OriginalRequests, w.OriginalLimits
		if w.IdleMemoryBytes == 0 {
			w.IdleMemoryBytes = profileFor(w).IdleMemory
		}
	}
	p.Node = nodeFor(in.Node, len(pods(p.Workloads)))
	headroom := Resources{in.Resources.Headroom.CPU.MilliValue(), in.Resources.Headroom.Memory.Value()}
	p.Totals.HeadroomCPUMilli, p.Totals.HeadroomMemoryBytes = headroom.CPUMilli, headroom.MemoryBytes

	switch p.Strategy {
	case spec.StrategyNone:
	case spec.StrategyScale:
		p.Factor = in.Resources.Factor
		p.scale(in.Resources.Factor)
	case spec.StrategyFit:
		p.fit(headroom)
	default:
		return nil, fmt.Errorf("plan: unknown strategy %q: expected fit, scale or none", p.Strategy)
	}
	p.total()
	p.maxScale(in.Services, p.Strategy != spec.StrategyNone)
	return p, nil
}

// total sums the workloads and gives the verdict.
func (p *Plan) total() {
	t := &p.Totals
	t.Requests = sumRequests(p.Workloads, func(w *Workload) Resources { return w.Requests })
	t.OriginalRequests = sumRequests(p.Workloads, func(w *Workload) Resources { return w.OriginalRequests })
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if w.Init {
			continue
		}
		t.Limits, t.OriginalLimits = t.Limits.Add(w.Limits), t.OriginalLimits.Add(w.OriginalLimits)
		t.PodIdleMemoryBytes += w.IdleMemoryBytes
	}
	alloc := Resources{p.Node.AllocatableCPUMilli, p.Node.AllocatableMemoryBytes}
	t.Free, t.OriginalFree = alloc.Sub(t.Requests), alloc.Sub(t.OriginalRequests)
	t.ControlPlaneMemory = controlPlaneMemory(len(pods(p.Workloads)))
	t.IdleMemoryBytes = t.PodIdleMemoryBytes + t.ControlPlaneMemory
	t.ExpectedFreeMemory = p.Node.MemoryBytes - t.IdleMemoryBytes
	p.Fits = t.Free.CPUMilli >= 0 && t.Free.MemoryBytes >= 0
	p.Shortfall = Resources{max(0, -t.Free.CPUMilli), max(0, -t.Free.MemoryBytes)}
	if p.Fits && (t.Free.CPUMilli < t.HeadroomCPUMilli || t.Free.MemoryBytes < t.HeadroomMemoryBytes) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("fits, but leaves %dm CPU / %s for user pods, less than the headroom asked for (%dm / %s)",
			t.Free.CPUMilli, mib(t.Free.MemoryBytes), t.HeadroomCPUMilli, mib(t.HeadroomMemoryBytes)))
	}
	if t.ExpectedFreeMemory < 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("expected idle memory (%s) exceeds the node's memory (%s): the node will swap or OOM", mib(t.IdleMemoryBytes), mib(p.Node.MemoryBytes)))
	}
}

// sumRequests totals requests pod by pod the way the scheduler does: a
// pod needs the larger of its biggest init container and the sum of its
// containers.
func sumRequests(ws []Workload, get func(*Workload) Resources) Resources {
	var total Resources
	for _, pod := range pods(ws) {
		var sum, init Resources
		for _, i := range pod {
			if ws[i].Init {
				init = maxRes(init, get(&ws[i]))
			} else {
				sum = sum.Add(get(&ws[i]))
			}
		}
		total = total.Add(maxRes(sum, init))
	}
	return total
}

// pods groups workload indexes by pod (namespace/kind/name), in order.
func pods(ws []Workload) [][]int {
	index := map[string]int{}
	var out [][]int
	for i := range ws {
		key := ws[i].Namespace + "/" + ws[i].Kind + "/" + ws[i].Name
		j, ok := index[key]
		if !ok {
			j = len(out)
			index[key] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}

// nodeFor computes reservations and allocatable memory/CPU.
func nodeFor(n spec.Node, podCount int) Node {
	out := Node{
		CPUMilli:          n.CPU.MilliValue(),
		MemoryBytes:       n.Memory.Value(),
		EvictionHardBytes: n.EvictionHard.Value(),
	}
	out.ReservedCPUMilli, out.ReservedMemoryBytes = n.Reserved.CPU.MilliValue(), n.Reserved.Memory.Value()
	if !n.Reserved.CPU.IsSet() {
		out.ReservedCPUMilli = ReservedCPUMilli(out.CPUMilli)
		out.ReservedComputed = true
	}
	if !n.Reserved.Memory.IsSet() {
		out.ReservedMemoryBytes = controlPlaneMemory(podCount)
		out.ReservedComputed = true
	}
	out.AllocatableCPUMilli = out.CPUMilli - out.ReservedCPUMilli
	out.AllocatableMemoryBytes = out.MemoryBytes - out.ReservedMemoryBytes - out.EvictionHardBytes
	return out
}

func mib(b int64) string { return fmt.Sprintf("%dMi", b>>20) }

// Reservation is the spec-shaped reservation the plan settled on, for the
// k0s config (kubelet system-reserved and eviction-hard).
func (p *Plan) Reservation() (cpuMilli, memoryBytes, evictionBytes int64) {
	return p.Node.ReservedCPUMilli, p.Node.ReservedMemoryBytes, p.Node.EvictionHardBytes
}

// Lookup finds a workload by namespace, name and container.
func (p *Plan) Lookup(namespace, name, container string) (*Workload, bool) {
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if w.Namespace == namespace && w.Name == name && w.Container == container {
			return w, true
		}
	}
	return nil, false
}

// Sorted returns the workloads ordered by source, namespace, name,
// container, for stable output.
func (p *Plan) Sorted() []Workload {
	out := append([]Workload(nil), p.Workloads...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.ID() < b.ID()
	})
	return out
}
