package plan

import (
	"fmt"
	"math"
)

// scale multiplies every adjustable request and limit by f, as the Knative
// walk-through did by hand, and warns where a limit falls below what the
// component is known to need.
func (p *Plan) scale(f float64) {
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if !w.Adjustable {
			continue
		}
		w.Requests = Resources{mulMilli(w.OriginalRequests.CPUMilli, f), mulBytes(w.OriginalRequests.MemoryBytes, f)}
		w.Limits = Resources{mulMilli(w.OriginalLimits.CPUMilli, f), mulBytes(w.OriginalLimits.MemoryBytes, f)}
		if w.Limits.MemoryBytes > 0 && w.IdleMemoryBytes > 0 && w.Limits.MemoryBytes < 2*w.IdleMemoryBytes {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: memory limit %s is below twice its idle working set (%s): risk of OOM kills", w.ID(), mib(w.Limits.MemoryBytes), mib(w.IdleMemoryBytes)))
		}
	}
	if qp := p.queueProxy(); qp != nil {
		p.QueueProxyCPURequestMilli = qp.Requests.CPUMilli
	}
}

// fit lowers adjustable requests proportionally, never below each
// container's floor, until requests plus headroom fit the allocatable.
// Limits decide nothing about scheduling: memory limits are kept (raised to
// twice the idle working set if upstream's were lower), CPU limits are
// clamped to the node's CPU but never below what the component needs to
// start without being throttled.
func (p *Plan) fit(headroom Resources) {
	budget := Resources{p.Node.AllocatableCPUMilli, p.Node.AllocatableMemoryBytes}.Sub(headroom)
	// CPU and memory are independent: find, for each, the largest factor
	// whose fitted requests (pods summed the way the scheduler does) stay
	// within the budget.
	cpuF := largestFactor(func(f float64) int64 { return p.requestsAt(f, 1).CPUMilli }, budget.CPUMilli)
	memF := largestFactor(func(f float64) int64 { return p.requestsAt(1, f).MemoryBytes }, budget.MemoryBytes)
	p.apply(cpuF, memF)
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if !w.Adjustable || w.Init {
			continue
		}
		prof := profileFor(w)
		if l := w.OriginalLimits.CPUMilli; l > 0 {
			w.Limits.CPUMilli = max(min(l, p.Node.CPUMilli), prof.MinCPULimit, w.Requests.CPUMilli)
		}
		if l := w.OriginalLimits.MemoryBytes; l > 0 {
			w.Limits.MemoryBytes = max(l, 2*w.IdleMemoryBytes, w.Requests.MemoryBytes)
		}
	}
	if qp := p.queueProxy(); qp != nil {
		p.QueueProxyCPURequestMilli = qp.Requests.CPUMilli
	}
}

// apply sets every adjustable request to its original scaled by the
// factors, never below the container's floor.
func (p *Plan) apply(cpuF, memF float64) {
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if !w.Adjustable || w.Init {
			continue
		}
		w.Requests.CPUMilli = fitValue(w.OriginalRequests.CPUMilli, profileFor(w).MinCPURequest, cpuF, 1)
		w.Requests.MemoryBytes = fitValue(w.OriginalRequests.MemoryBytes, minMemoryRequest(w), memF, 1<<20)
	}
}

// requestsAt is the node's total requests with factors applied.
func (p *Plan) requestsAt(cpuF, memF float64) Resources {
	saved := make([]Resources, len(p.Workloads))
	for i := range p.Workloads {
		saved[i] = p.Workloads[i].Requests
	}
	p.apply(cpuF, memF)
	total := sumRequests(p.Workloads, func(w *Workload) Resources { return w.Requests })
	for i := range p.Workloads {
		p.Workloads[i].Requests = saved[i]
	}
	return total
}

// largestFactor finds the largest f in [0, 1] with total(f) <= budget
// (total is monotonic in f); 0 when even the floors exceed the budget.
func largestFactor(total func(float64) int64, budget int64) float64 {
	if total(1) <= budget {
		return 1
	}
	lo, hi := 0.0, 1.0
	for range 40 {
		mid := (lo + hi) / 2
		if total(mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// fitValue scales v by f, never below floor, rounding down to unit.
func fitValue(v, floor int64, f float64, unit int64) int64 {
	if v == 0 {
		return 0
	}
	if f >= 1 {
		return v
	}
	n := int64(math.Floor(float64(v)*f/float64(unit))) * unit
	return min(v, max(n, floor))
}

func minMemoryRequest(w *Workload) int64 {
	if m := profileFor(w).MinMemoryRequest; m > 0 {
		return m
	}
	return w.IdleMemoryBytes
}

func (p *Plan) queueProxy() *Workload {
	for i := range p.Workloads {
		if p.Workloads[i].Container == QueueProxyContainer {
			return &p.Workloads[i]
		}
	}
	return nil
}

func mulMilli(v int64, f float64) int64 { return int64(math.Round(float64(v) * f)) }

func mulBytes(v int64, f float64) int64 {
	if v == 0 {
		return 0
	}
	return max(1<<20, int64(math.Round(float64(v)*f/(1<<20)))<<20)
}
