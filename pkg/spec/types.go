package spec

// APIVersion and Kind identify an edgeimg spec document.
const (
	APIVersion = "edgeimg.io/v1alpha1"
	Kind       = "Image"
)

// Document is the whole edgeimg.yaml file.
type Document struct {
	APIVersion string   `yaml:"apiVersion" doc:"always edgeimg.io/v1alpha1"`
	Kind       string   `yaml:"kind" doc:"always Image"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       Spec     `yaml:"spec"`
}

// Metadata names the image; the name is used for output file names.
type Metadata struct {
	Name string `yaml:"name" doc:"image name, used for output files (lowercase letters, digits, '-')"`
}

// Spec is what one edge node (or one fleet of identical nodes) gets.
type Spec struct {
	Board     string    `yaml:"board" doc:"target board: x86_64-efi, arm64-efi, rpi4 (see 'edgeimg boards')"`
	Node      Node      `yaml:"node"`
	K0s       K0s       `yaml:"k0s"`
	Knative   Knative   `yaml:"knative"`
	Kourier   Kourier   `yaml:"kourier"`
	MetalLB   MetalLB   `yaml:"metallb"`
	Upstream  string    `yaml:"upstream" doc:"directory with upstream release files (<project>/<version>/<file>) used instead of downloading"`
	Resources Resources `yaml:"resources"`
	Services  []Service `yaml:"services"`
	Images    Images    `yaml:"images"`
	OS        OS        `yaml:"os"`
	SSH       SSH       `yaml:"ssh"`
	Disk      Disk      `yaml:"disk"`
	Output    Output    `yaml:"output"`
	Deploy    Deploy    `yaml:"deploy"`
}

// Node describes the machine the stack must fit on.
type Node struct {
	CPU    Quantity `yaml:"cpu" doc:"CPU capacity of the node (e.g. 1, 2, 1500m)"`
	Memory Quantity `yaml:"memory" doc:"memory capacity of the node (e.g. 1Gi, 1536Mi)"`
	// Reserved is what the OS and the k0s control plane (processes the
	// scheduler does not see) are set aside; empty means "computed by the plan".
	Reserved ResourceList `yaml:"reserved"`
	// EvictionHard is kubelet's memory.available hard-eviction threshold.
	EvictionHard Quantity `yaml:"evictionHard" doc:"kubelet hard eviction threshold for memory.available (e.g. 100Mi)"`
	MaxPods      int      `yaml:"maxPods" doc:"kubelet maxPods"`
}

// ResourceList is a CPU and memory pair.
type ResourceList struct {
	CPU    Quantity `yaml:"cpu" doc:"CPU (e.g. 100m)"`
	Memory Quantity `yaml:"memory" doc:"memory (e.g. 128Mi)"`
}

// K0s selects the k0s release and how it is configured.
type K0s struct {
	Version string `yaml:"version" doc:"k0s release (e.g. v1.36.3+k0s.2)"`
	// Binary is a local k0s binary for the target architecture, used
	// instead of the catalog download.
	Binary string `yaml:"binary" doc:"path to a k0s binary for the target architecture (instead of downloading)"`
	// Network is the pod network: kuberouter (k0s default, one DaemonSet
	// pod requesting 250m CPU) or bridge (k0s "custom" provider with a
	// host-local bridge CNI: no network pod, no NetworkPolicy).
	Network string `yaml:"network" doc:"pod network: kuberouter or bridge"`
	// DisableComponents is passed to k0s as --disable-components.
	DisableComponents []string `yaml:"disableComponents" doc:"k0s components to disable (e.g. metrics-server)"`
	// Env is k0s's environment on the node (k0s install --env, the unit's
	// Environment= lines). k0s passes it on to the components it runs; a
	// name COMPONENT_NAME (KUBE-APISERVER_GOGC) is NAME for that component
	// only. The Go runtime's GOGC and GOMEMLIMIT are the memory levers.
	Env map[string]string `yaml:"env" doc:"environment of k0s and its components, NAME=VALUE; COMPONENT_NAME=VALUE for one component (KUBE-APISERVER_GOGC=50)"`
	// Config is a k0s ClusterConfig document (or just its spec) merged over
	// what edgeimg generates.
	Config map[string]any `yaml:"config"`
}

// Knative selects Knative Serving.
type Knative struct {
	Version string `yaml:"version" doc:"Knative Serving release (e.g. 1.23.0)"`
	// Domain is written to config-domain; empty means <kourier LB IP>.sslip.io.
	Domain string `yaml:"domain" doc:"domain for Knative routes (default <first MetalLB address>.sslip.io)"`
	// KubernetesMinVersion lowers the Kubernetes minimum Knative's and
	// Kourier's controllers check at start (knative.dev/pkg's
	// KUBERNETES_MIN_VERSION): running them on a Kubernetes older than
	// their release supports, which upstream does not support. Empty: the
	// release's own minimum, and the spec is refused below it.
	KubernetesMinVersion string `yaml:"kubernetesMinVersion" doc:"run Knative and Kourier on an older Kubernetes than they support (e.g. 1.33; sets KUBERNETES_MIN_VERSION on their controllers; unsupported upstream)"`
}

// Kourier selects the Kourier ingress.
type Kourier struct {
	Version string `yaml:"version" doc:"net-kourier release (e.g. 1.23.0)"`
}

// MetalLB selects MetalLB and its address pool.
type MetalLB struct {
	Version   string   `yaml:"version" doc:"MetalLB release (e.g. v0.15.3)"`
	Addresses []string `yaml:"addresses" doc:"LoadBalancer addresses: CIDRs (192.168.10.240/28) or ranges (192.168.10.240-192.168.10.250)"`
}

// Strategy names how requests and limits are fitted to the node.
type Strategy string

// The resource strategies.
const (
	StrategyFit   Strategy = "fit"
	StrategyScale Strategy = "scale"
	StrategyNone  Strategy = "none"
)

// Resources says how the stack's requests/limits are fitted to the node.
type Resources struct {
	Strategy Strategy `yaml:"strategy" doc:"fit, scale or none"`
	// Factor is the uniform multiplier of the scale strategy.
	Factor float64 `yaml:"factor" doc:"multiplier for the scale strategy (e.g. 0.5)"`
	// Headroom is kept free on the node for user workloads.
	Headroom ResourceList `yaml:"headroom"`
}

// Service is a Knative Service shipped with the stack.
type Service struct {
	Name      string            `yaml:"name" doc:"Knative Service name"`
	Namespace string            `yaml:"namespace" doc:"namespace (default 'default')"`
	Image     string            `yaml:"image" doc:"container image"`
	Env       map[string]string `yaml:"env" doc:"environment variables"`
	Port      int               `yaml:"port" doc:"container port (default: Knative's 8080)"`
	MinScale  *int              `yaml:"minScale" doc:"autoscaling.knative.dev/min-scale"`
	// MaxScale unset on a fitted node gets a cap from the plan (pkg/plan:
	// MaxScale); 0 is Knative's unlimited, said explicitly.
	MaxScale *int         `yaml:"maxScale" doc:"autoscaling.knative.dev/max-scale (unset: a cap from the plan; 0: unlimited)"`
	Requests ResourceList `yaml:"requests"`
	Limits   ResourceList `yaml:"limits"`
	// The Knative Pod Autoscaler (KPA) settings beside min/max scale;
	// unset fields keep config-autoscaler's defaults.
	Target *float64 `yaml:"target" doc:"autoscaling.knative.dev/target: concurrent requests (or requests/s with metric rps) per pod the autoscaler aims at"`
	Metric string   `yaml:"metric" doc:"autoscaling.knative.dev/metric: concurrency (default) or rps"`
	// ContainerConcurrency is the hard limit of requests one pod takes at
	// once (0: unlimited).
	ContainerConcurrency *int   `yaml:"containerConcurrency" doc:"spec.template.spec.containerConcurrency: requests one pod takes at once, 0-1000 (0: unlimited)"`
	InitialScale         *int   `yaml:"initialScale" doc:"autoscaling.knative.dev/initial-scale: pods a new revision starts with (1 or more)"`
	ScaleDownDelay       string `yaml:"scaleDownDelay" doc:"autoscaling.knative.dev/scale-down-delay: how long load must stay lower before scaling down, 0s-1h"`
	Window               string `yaml:"window" doc:"autoscaling.knative.dev/window: the stable window the autoscaler averages over, 6s-1h"`
}

// Images configures where images come from.
type Images struct {
	// Platform overrides the board's platform (os/arch[/variant]).
	Platform string   `yaml:"platform" doc:"image platform (default from the board, e.g. linux/arm64)"`
	Extra    []string `yaml:"extra" doc:"more images to preload"`
	// Replace maps a reference prefix to another; the node uses the
	// replacement (for example upstream images rebuilt in a local registry).
	Replace map[string]string `yaml:"replace" doc:"reference prefix rewrites, FROM=TO"`
	// Mirrors maps a registry host to a mirror pulled from instead; the
	// node keeps the original names.
	Mirrors            map[string]string `yaml:"mirrors" doc:"registry mirrors, REGISTRY=MIRROR"`
	InsecureRegistries []string          `yaml:"insecureRegistries" doc:"registries reached over plain HTTP"`
}

// OS configures the Debian base of the image.
type OS struct {
	Suite    string   `yaml:"suite" doc:"Debian suite: trixie or bookworm"`
	Mirror   string   `yaml:"mirror" doc:"Debian mirror URL"`
	Packages []string `yaml:"packages" doc:"extra Debian packages"`
	// Rootfs is a tarball used as the base instead of mmdebstrap.
	Rootfs   string `yaml:"rootfs" doc:"root filesystem tarball to use instead of building Debian"`
	Hostname string `yaml:"hostname" doc:"default hostname (per-device config overrides it)"`
	// Kernel names a kernel package or tarball for boards Debian's kernel
	// does not support (rpi5).
	Kernel string `yaml:"kernel" doc:"kernel package name or tarball for boards Debian's kernel lacks"`
	// Timezone etc. can be added later without breaking the format.
}

// SSH configures remote access to the image.
type SSH struct {
	Enabled        bool     `yaml:"enabled" doc:"install and enable OpenSSH (key login only)"`
	AuthorizedKeys []string `yaml:"authorizedKeys" doc:"public keys for root"`
}

// Disk sizes the image.
type Disk struct {
	// Size of the raw image; empty means computed from the content.
	Size Quantity `yaml:"size" doc:"image size (e.g. 4Gi; default: content plus headroom)"`
}

// Output selects the formats written.
type Output struct {
	Formats []string `yaml:"formats" doc:"output formats: raw, img.zst, img.xz, qcow2, vmdk, vdi, ova"`
}

// Deploy lists existing hosts for 'edgeimg deploy'.
type Deploy struct {
	Hosts       []Host `yaml:"hosts"`
	Concurrency int    `yaml:"concurrency" doc:"hosts deployed in parallel"`
	// Timeout bounds the wait for the node and stacks, as a Go duration.
	Timeout string `yaml:"timeout" doc:"how long to wait for the node to be Ready and stacks applied (e.g. 15m)"`
}

// Host is one SSH target.
type Host struct {
	Address string `yaml:"address" doc:"host name or IP"`
	Port    int    `yaml:"port" doc:"SSH port (default 22)"`
	User    string `yaml:"user" doc:"SSH user (default root)"`
	KeyPath string `yaml:"keyPath" doc:"private key file (default: agent and ~/.ssh)"`
	Sudo    bool   `yaml:"sudo" doc:"use sudo for privileged commands"`
}
