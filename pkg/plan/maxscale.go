package plan

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Service is a Knative Service's scale bounds, for the plan at max scale.
// Its pod's containers are the workloads with its Namespace, Kind and
// Name (the user's container and queue-proxy).
type Service struct {
	// Source names the spec entry ("spec.services[0]").
	Source    string
	Namespace string
	Kind      string
	Name      string
	// Min is minScale (0 when unset).
	Min int
	// Max is maxScale: nil when unset (the plan derives a cap on a node
	// edgeimg fits), 0 for Knative's unlimited.
	Max *int
}

// MaxScale is the node with every service at its max scale.
type MaxScale struct {
	Services []ServiceScale `json:"services"`
	// Requests are the node's requests with every service at Max pods.
	Requests Resources `json:"requests"`
	// Free is allocatable minus Requests (negative: pods beyond what
	// fits stay Pending under load).
	Free Resources `json:"free"`
	// ExpectedMemoryBytes is the expected idle memory with every service
	// at Max pods (OS and control plane included), against the node's.
	ExpectedMemoryBytes int64 `json:"expected_memory_bytes"`
	// Fits: every service at max scale fits the allocatable, and none is
	// unbounded.
	Fits bool `json:"fits"`
}

// ServiceScale is one service in the max-scale report.
type ServiceScale struct {
	Source    string `json:"source"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Min       int    `json:"min"`
	// Max is the max scale used: the spec's, or the derived cap.
	Max int `json:"max"`
	// Derived marks a cap the plan computed (no maxScale in the spec).
	Derived bool `json:"derived,omitempty"`
	// Unbounded: maxScale 0 (Knative's unlimited); Max is then 0.
	Unbounded bool `json:"unbounded,omitempty"`
	// Pod is what one pod requests (queue-proxy included); PodCost is
	// what the cap counts: the requests, memory raised to the pod's
	// known idle working set plus its shim.
	Pod     Resources `json:"pod_requests"`
	PodCost Resources `json:"pod_cost"`
	// podIdle is the pod's expected working set with its shim.
	podIdle int64
}

// maxScale fills p.MaxScale. Services without a maxScale get a cap when
// derive is set (strategies fit and scale): the room left by everything
// else (the other services at their max or min scale) shared evenly
// between them, in whole pods, at least max(minScale, 1). The room is the
// allocatable's (so the headroom goes to these pods), and for memory no
// more than the node's memory less the eviction threshold and the
// expected working set; each pod costs its requests, its memory raised to
// its expected working set (podOf) plus its shim.
func (p *Plan) maxScale(svcs []Service, derive bool) {
	m := &p.MaxScale
	m.Fits = true
	alloc := Resources{p.Node.AllocatableCPUMilli, p.Node.AllocatableMemoryBytes}
	// fixed: requests with every service's pod taken out, then put back
	// at its max (a set cap) or floor (an uncapped one).
	fixed := p.Totals.Requests
	idle := p.Totals.IdleMemoryBytes
	var uncapped []int
	for _, s := range svcs {
		pod, known, podIdle := p.podOf(s)
		sc := ServiceScale{Source: s.Source, Namespace: s.Namespace, Name: s.Name, Min: s.Min, Pod: pod,
			PodCost: Resources{pod.CPUMilli, max(pod.MemoryBytes, podIdle+shimMemory)}, podIdle: podIdle + shimMemory}
		fixed = fixed.Sub(pod)
		idle -= known + shimMemory
		switch {
		case s.Max != nil && *s.Max == 0:
			sc.Unbounded = true
			m.Fits = false
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s %s/%s: maxScale 0 (unlimited): under load it may take more pods than the node holds; set a maxScale, or leave it unset for a cap from the plan", s.Source, s.Namespace, s.Name))
			sc.Max = max(s.Min, 1)
		case s.Max != nil:
			sc.Max = *s.Max
		case !derive:
			sc.Unbounded = true
			m.Fits = false
			sc.Max = max(s.Min, 1)
		default:
			sc.Derived = true
			sc.Max = max(s.Min, 1)
			uncapped = append(uncapped, len(m.Services))
		}
		fixed = fixed.Add(mulPods(pod, sc.Max))
		idle += int64(sc.Max) * (podIdle + shimMemory)
		m.Services = append(m.Services, sc)
	}
	if len(uncapped) > 0 {
		// The headroom is the room for pods beyond the stack's: the
		// services' extra pods are such pods. Memory is bounded by the
		// requests and by the expected working set of the node.
		room := alloc.Sub(fixed)
		room.MemoryBytes = min(room.MemoryBytes, p.Node.MemoryBytes-p.Node.EvictionHardBytes-idle)
		share := Resources{room.CPUMilli / int64(len(uncapped)), room.MemoryBytes / int64(len(uncapped))}
		for _, i := range uncapped {
			sc := &m.Services[i]
			extra := int64(math.MaxInt32)
			if c := sc.PodCost.CPUMilli; c > 0 {
				extra = min(extra, share.CPUMilli/c)
			}
			if c := sc.PodCost.MemoryBytes; c > 0 {
				extra = min(extra, share.MemoryBytes/c)
			}
			if extra == math.MaxInt32 || extra < 0 {
				extra = 0
			}
			sc.Max += int(extra)
			fixed = fixed.Add(mulPods(sc.Pod, int(extra)))
			idle += extra * sc.podIdle
			if sc.Pod.MemoryBytes == 0 {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s %s/%s sets no requests.memory: its derived max scale %d counts %s per pod (queue-proxy, the shim, and %s for a container of unknown working set); set requests.memory for a cap that fits your service", sc.Source, sc.Namespace, sc.Name, sc.Max, mem(sc.PodCost.MemoryBytes), mem(defaultProfile.MinMemoryRequest)))
			}
		}
	}
	m.Requests = fixed
	m.Free = alloc.Sub(fixed)
	m.ExpectedMemoryBytes = idle
	if m.Free.CPUMilli < 0 || m.Free.MemoryBytes < 0 || m.ExpectedMemoryBytes > p.memoryBeforeEviction() {
		m.Fits = false
	}
}

// memoryBeforeEviction is the node's memory less the eviction threshold.
func (p *Plan) memoryBeforeEviction() int64 {
	return p.Node.MemoryBytes - p.Node.EvictionHardBytes
}

// podOf sums the requests and the expected idle working set of a
// service's pod (a container with neither counts as defaultProfile's
// minimum memory request).
func (p *Plan) podOf(s Service) (sum Resources, known, idle int64) {
	for i := range p.Workloads {
		w := &p.Workloads[i]
		if w.Namespace == s.Namespace && w.Kind == s.Kind && w.Name == s.Name && !w.Init {
			sum = sum.Add(w.Requests)
			known += w.IdleMemoryBytes
			idle += w.IdleMemoryBytes
			if w.IdleMemoryBytes == 0 && w.Requests.MemoryBytes == 0 {
				// The user's container, of unknown working set and
				// with no request: counted as an unknown component.
				idle += defaultProfile.MinMemoryRequest
			}
		}
	}
	return sum, known, idle
}

func mulPods(r Resources, n int) Resources {
	return Resources{r.CPUMilli * int64(n), r.MemoryBytes * int64(n)}
}

// MaxScaleVerdict is the one-line result at max scale.
func (p *Plan) MaxScaleVerdict() string {
	m := p.MaxScale
	if len(m.Services) == 0 {
		return ""
	}
	for _, s := range m.Services {
		if s.Unbounded {
			return fmt.Sprintf("at max scale: UNBOUNDED — %s/%s has no max scale; the node holds %s CPU / %s of requests", s.Namespace, s.Name, cpu(p.Node.AllocatableCPUMilli), mem(p.Node.AllocatableMemoryBytes))
		}
	}
	if m.Fits {
		return fmt.Sprintf("at max scale: FITS — %s CPU and %s memory of requests left", signed(m.Free.CPUMilli, cpu), signed(m.Free.MemoryBytes, mem))
	}
	var why []string
	if m.Free.CPUMilli < 0 {
		why = append(why, "CPU requests exceed allocatable by "+cpu(-m.Free.CPUMilli))
	}
	if m.Free.MemoryBytes < 0 {
		why = append(why, "memory requests exceed allocatable by "+mem(-m.Free.MemoryBytes))
	}
	if m.Free.CPUMilli < 0 || m.Free.MemoryBytes < 0 {
		why[len(why)-1] += " (pods beyond it stay Pending under load)"
	}
	if over := m.ExpectedMemoryBytes - p.memoryBeforeEviction(); over > 0 {
		why = append(why, fmt.Sprintf("expected memory exceeds the node's less its eviction threshold by %s (evictions, OOM kills)", mem(over)))
	}
	return "at max scale: DOES NOT FIT — " + strings.Join(why, "; ") + "; lower maxScale"
}

// writeMaxScale writes the services at max scale, the node's requests
// and expected memory then, and the verdict at max scale.
func (p *Plan) writeMaxScale(w io.Writer) error {
	m := p.MaxScale
	if len(m.Services) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT MAX SCALE\tSERVICE\tMIN\tMAX\tPOD CPU REQ\tPOD MEM REQ\tPOD MEM COUNTED")
	for _, s := range m.Services {
		maxS := strconv.Itoa(s.Max)
		switch {
		case s.Unbounded:
			maxS = "unlimited"
		case s.Derived:
			maxS += " (derived: maxScale not set)"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%d\t%s\t%s\t%s\t%s\n", s.Source, s.Namespace, s.Name, s.Min, maxS, cpu(s.Pod.CPUMilli), mem(s.Pod.MemoryBytes), mem(s.PodCost.MemoryBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "requests at max scale: %s CPU / %s of %s / %s allocatable; expected memory %s of %s\n",
		cpu(m.Requests.CPUMilli), mem(m.Requests.MemoryBytes), cpu(p.Node.AllocatableCPUMilli), mem(p.Node.AllocatableMemoryBytes), mem(m.ExpectedMemoryBytes), mem(p.Node.MemoryBytes))
	fmt.Fprintln(w, p.MaxScaleVerdict())
	return nil
}
