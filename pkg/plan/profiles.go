package plan

import "strings"

// QueueProxyContainer is the sidecar Knative adds to every revision pod.
const QueueProxyContainer = "queue-proxy"

const mi = 1 << 20

// Profile is what edgeimg knows about one component: how much memory it
// uses idle, and the floors the fit strategy never goes below.
type Profile struct {
	// IdleMemory is the observed idle working set.
	IdleMemory int64
	// MinCPURequest is the lowest CPU request fit sets.
	MinCPURequest int64
	// MinCPULimit is the lowest CPU limit fit sets: below it the
	// component is throttled at start-up (informer sync, cert generation).
	MinCPULimit int64
	// MinMemoryRequest overrides the memory request floor, which is
	// otherwise the idle working set.
	MinMemoryRequest int64
	// Note says where the numbers come from.
	Note string
}

// walkThrough is the Knative blog's "Knative Serving in k0s" measurement:
// `kubectl top` working sets of an idle node with one idle ksvc.
const walkThrough = "measured idle working set (Knative blog, Knative Serving in k0s)"

// measuredE2E is the idle working set 'make e2e' measured from the pod's
// cgroup on a real k0s node.
const measuredE2E = "measured idle working set (make e2e)"

// profiles are keyed by namespace/name/container.
var profiles = map[string]Profile{
	"knative-serving/activator/activator":                   {21 * mi, 25, 500, 0, walkThrough},
	"knative-serving/autoscaler/autoscaler":                 {19 * mi, 10, 500, 0, walkThrough},
	"knative-serving/controller/controller":                 {27 * mi, 10, 500, 0, walkThrough},
	"knative-serving/webhook/webhook":                       {16 * mi, 10, 500, 0, walkThrough},
	"knative-serving/net-kourier-controller/controller":     {37 * mi, 10, 500, 0, walkThrough},
	"kourier-system/3scale-kourier-gateway/kourier-gateway": {17 * mi, 25, 500, 0, walkThrough},
	"kube-system/coredns/coredns":                           {16 * mi, 0, 0, 0, walkThrough},
	"kube-system/kube-router/kube-router":                   {19 * mi, 0, 0, 0, walkThrough},
	"kube-system/metrics-server/metrics-server":             {18 * mi, 0, 0, 0, walkThrough},
	"kube-system/kube-proxy/kube-proxy":                     {15 * mi, 0, 0, 0, "estimate"},
	"metallb-system/controller/controller":                  {20 * mi, 10, 0, 0, "estimate"},
	"metallb-system/speaker/speaker":                        {24 * mi, 10, 0, 0, "estimate"},
}

// queueProxyProfile applies to every revision's sidecar: the walk-through's
// hello pod (user container + queue-proxy) used 8Mi.
var queueProxyProfile = Profile{IdleMemory: 6 * mi, MinCPURequest: 5, Note: walkThrough}

// defaultProfile applies to containers edgeimg knows nothing about.
var defaultProfile = Profile{MinCPURequest: 10, MinMemoryRequest: 16 * mi, Note: "unknown component"}

func profileFor(w *Workload) Profile {
	if w.Container == QueueProxyContainer {
		return queueProxyProfile
	}
	if p, ok := profiles[w.ID()]; ok {
		return p
	}
	if strings.HasPrefix(w.Source, "spec.") {
		return Profile{} // the user's own containers: requests as given
	}
	return defaultProfile
}

// ProfileFor returns the known profile of a workload (for docs and tests).
func ProfileFor(w Workload) Profile { return profileFor(&w) }

// controlPlane lists the processes that run outside pods on a k0s
// controller+worker (--single) node, with their idle memory. The scheduler
// does not see them, so the plan reserves them from allocatable (kubelet
// systemReserved). The figures are the proportional set sizes 'make e2e'
// measured on an idle node running this very stack (k0s 1.33 with kine,
// Kubernetes 1.33, Knative's and MetalLB's CRDs loaded), rounded up; the
// OS figure is an estimate for Debian's systemd, journald, udevd, networkd,
// resolved, timesyncd and sshd.
var controlPlane = []struct {
	Name   string
	Memory int64
}{
	{"kube-apiserver", 380 * mi},
	{"k0s controller (applier, autopilot, ...)", 130 * mi},
	{"kube-controller-manager", 120 * mi},
	{"kubelet", 95 * mi},
	{"kine (sqlite)", 70 * mi},
	{"containerd", 65 * mi},
	{"kube-scheduler", 65 * mi},
	{"OS (systemd, journald, udevd, networkd, resolved, sshd)", 50 * mi},
}

// shimMemory is each pod's containerd-shim-runc-v2, rounded up from what
// 'make e2e' measured.
const shimMemory = 6 * mi

func controlPlaneMemory(pods int) int64 {
	var sum int64
	for _, c := range controlPlane {
		sum += c.Memory
	}
	return sum + int64(pods)*shimMemory
}

// ReservedCPUMilli is the CPU set aside for the OS and the control plane:
// 150m on one core, 100m per further core.
func ReservedCPUMilli(capacity int64) int64 {
	r := int64(150)
	if capacity > 1000 {
		r += (capacity - 1000) / 1000 * 100
	}
	return min(r, capacity/2)
}
