package k0sconfig

// Resources is a CPU and memory amount as the scheduler counts it.
type Resources struct {
	CPUMilli    int64 `json:"cpu_millis"`
	MemoryBytes int64 `json:"memory_bytes"`
}

// Workload is one container of a pod k0s itself runs on the node.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"` // Deployment or DaemonSet
	Name      string `json:"name"`
	Container string `json:"container"`
	// Init marks an init container: it counts towards the pod's request
	// only as max(init containers) against the sum of the others.
	Init bool `json:"init,omitempty"`
	// Replicas on this single node (a DaemonSet runs one).
	Replicas int       `json:"replicas"`
	Image    string    `json:"image"`
	Requests Resources `json:"requests"`
	Limits   Resources `json:"limits"`
}

// Requests and limits as k0s renders them for one node
// (pkg/component/controller/{coredns,kubeproxy,kuberouter,metricserver}.go);
// workloads_test.go renders k0s's own templates from the module source and
// fails when these disagree. The files at v1.35.7+k0s.0 and v1.36.3+k0s.2
// give the same requests (read at those tags).
var (
	// coredns.go: 100m / 70Mi, no limits; replicaCount(1 node) = 1.
	coreDNSRequests = Resources{CPUMilli: 100, MemoryBytes: 70 << 20}
	// kuberouter.go: 250m / 16Mi on kube-router; init containers unset.
	kubeRouterRequests = Resources{CPUMilli: 250, MemoryBytes: 16 << 20}
	// metricserver.go getConfig: 10m and 30M per started block of 10 nodes.
	metricsServerRequests = Resources{CPUMilli: 10, MemoryBytes: 30_000_000}
)

// SystemWorkloads lists the containers of the pods k0s runs by itself on a
// single node with this config: coredns, kube-proxy, kube-router (network
// kuberouter only) and metrics-server, each unless disabled. Konnectivity
// does not run with --single; the control plane runs as processes, not
// pods (see Reservations).
func (c *Config) SystemWorkloads() []Workload {
	im := c.Cluster.Spec.Images
	var w []Workload
	if c.runsCoreDNS() {
		w = append(w, Workload{Namespace: "kube-system", Kind: "Deployment", Name: "coredns", Container: "coredns",
			Replicas: 1, Image: im.CoreDNS.URI(), Requests: coreDNSRequests})
	}
	if c.runsKubeProxy() {
		w = append(w, Workload{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-proxy", Container: "kube-proxy",
			Replicas: 1, Image: im.KubeProxy.URI()})
	}
	if c.runsKubeRouter() {
		w = append(w,
			Workload{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-router", Container: "install-cni-bins",
				Init: true, Replicas: 1, Image: im.KubeRouter.CNIInstaller.URI()},
			Workload{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-router", Container: "install-cniconf",
				Init: true, Replicas: 1, Image: im.KubeRouter.CNI.URI()},
			Workload{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-router", Container: "kube-router",
				Replicas: 1, Image: im.KubeRouter.CNI.URI(), Requests: kubeRouterRequests})
	}
	if c.runsMetricsServer() {
		w = append(w, Workload{Namespace: "kube-system", Kind: "Deployment", Name: "metrics-server", Container: "metrics-server",
			Replicas: 1, Image: im.MetricsServer.URI(), Requests: metricsServerRequests})
	}
	return w
}
