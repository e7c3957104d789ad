package plan

import (
	"fmt"
	"math"
	"sort"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Resources is a CPU/memory pair; zero means "not set".
type Resources struct {
	CPUMilli    int64 `json:"cpu_millis"`
	MemoryBytes int64 `json:"memory_bytes"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.CPUMilli + o.CPUMilli, r.MemoryBytes + o.MemoryBytes}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.CPUMilli - o.CPUMilli, r.MemoryBytes - o.MemoryBytes}
}

// Workload is one container that will run on the node.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Container string `json:"container"`
	// Init marks an init container: it runs before the pod's containers,
	// so the pod needs max(init, sum of containers), not the sum.
	Init bool `json:"init,omitempty"`
	// Source says where the container comes from ("knative-serving
	// 1.23.0", "k0s v1.33.8+k0s.1", "spec.services[0]").
	Source string `json:"source"`
	// Adjustable containers are edgeimg's to change; k0s's system pods
	// are not (k0s renders them).
	Adjustable bool `json:"adjustable"`

	Requests         Resources `json:"requests"`
	Limits           Resources `json:"limits"`
	OriginalRequests Resources `json:"original_requests"`
	OriginalLimits   Resources `json:"original_limits"`
	// IdleMemoryBytes is the known idle working set, 0 when unknown.
	IdleMemoryBytes int64 `json:"idle_memory_bytes"`
}

// ID is namespace/name/container.
func (w *Workload) ID() string { return w.Namespace + "/" + w.Name + "/" + w.Container }

// Node is the node's capacity and how it is divided.
type Node struct {
	CPUMilli               int64 `json:"cpu_millis"`
	MemoryBytes            int64 `json:"memory_bytes"`
	ReservedCPUMilli       int64 `json:"reserved_cpu_millis"`
	ReservedMemoryBytes    int64 `json:"reserved_memory_bytes"`
	EvictionHardBytes      int64 `json:"eviction_hard_memory_bytes"`
	AllocatableCPUMilli    int64 `json:"allocatable_cpu_millis"`
	AllocatableMemoryBytes int64 `json:"allocatable_memory_bytes"`
	// ReservedComputed is true when the reservation comes from the
	// known control-plane working sets rather than the spec.
	ReservedComputed bool `json:"reserved_computed"`
}

// Totals sums the workloads, counting each pod's init containers the way
// the scheduler does.
type Totals struct {
	Requests         Resources `json:"requests"`
	Limits           Resources `json:"limits"`
	OriginalRequests Resources `json:"original_requests"`
	OriginalLimits   Resources `json:"original_limits"`
	// Free is allocatable minus requests (negative: does not fit).
	Free Resources `json:"free"`
	// OriginalFree is the same for the untransformed stack.
	OriginalFree Resources `json:"original_free"`
	// IdleMemoryBytes is the expected idle memory of all pods plus the
	// reserved OS + control-plane working set.
	IdleMemoryBytes     int64 `json:"idle_memory_bytes"`
	PodIdleMemoryBytes  int64 `json:"pod_idle_memory_bytes"`
	ControlPlaneMemory  int64 `json:"control_plane_memory_bytes"`
	ExpectedFreeMemory  int64 `json:"expected_free_memory_bytes"`
	HeadroomCPUMilli    int64 `json:"headroom_cpu_millis"`
	HeadroomMemoryBytes int64 `json:"headroom_memory_bytes"`
}

// Plan is the result: fitted workloads and the verdict.
type Plan struct {
	Strategy  spec.Strategy `json:"strategy"`
	Factor    float64       `json:"factor,omitempty"`
	Fits      bool          `json:"fits"`
	Node      Node          `json:"node"`
	Workloads []Workload    `json:"workloads"`
	Totals    Totals        `json:"totals"`
	// Shortfall is how much is missing when it does not fit.
	Shortfall Resources `json:"shortfall"`
	// QueueProxyCPURequestMilli is what config-deployment's
	// queue-sidecar-cpu-request is set to (0: unchanged).
	QueueProxyCPURequestMilli int64    `json:"queue_proxy_cpu_request_millis,omitempty"`
	Warnings                  []string `json:"warnings,omitempty"`
}

// Input is what the plan is computed from.
type Input struct {
	Node      spec.Node
	Resources spec.Resources
	// Workloads: upstream (adjustable), k0s system (fixed), services.
	Workloads []Workload
}

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
	return p, nil
}

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

func maxRes(a, b Resources) Resources {
	return Resources{max(a.CPUMilli, b.CPUMilli), max(a.MemoryBytes, b.MemoryBytes)}
}

func mulMilli(v int64, f float64) int64 { return int64(math.Round(float64(v) * f)) }

func mulBytes(v int64, f float64) int64 {
	if v == 0 {
		return 0
	}
	return max(1<<20, int64(math.Round(float64(v)*f/(1<<20)))<<20)
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
