package plan

import "github.com/edgeimg/edgeimg/pkg/spec"

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
	// 1.23.0", "k0s v1.36.3+k0s.2", "spec.services[0]").
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
	QueueProxyCPURequestMilli int64 `json:"queue_proxy_cpu_request_millis,omitempty"`
	// MaxScale is the node with every service at its max scale.
	MaxScale MaxScale `json:"max_scale"`
	Warnings []string `json:"warnings,omitempty"`
}

// Input is what the plan is computed from.
type Input struct {
	Node      spec.Node
	Resources spec.Resources
	// Workloads: upstream (adjustable), k0s system (fixed), services.
	Workloads []Workload
	// Services are the Knative Services' scale bounds (their pods are
	// among Workloads, once each).
	Services []Service
}

func maxRes(a, b Resources) Resources {
	return Resources{max(a.CPUMilli, b.CPUMilli), max(a.MemoryBytes, b.MemoryBytes)}
}
