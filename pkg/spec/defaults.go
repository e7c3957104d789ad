package spec

// Defaults filled in by ApplyDefaults for fields a spec leaves empty.
const (
	DefaultName              = "edge"
	DefaultBoard             = "x86_64-efi"
	DefaultK0sVersion        = "v1.36.3+k0s.2"
	DefaultKnativeVersion    = "1.23.0"
	DefaultKourierVersion    = "1.23.0"
	DefaultMetalLBVersion    = "v0.15.3"
	DefaultSuite             = "trixie"
	DefaultMirror            = "http://deb.debian.org/debian"
	DefaultServiceNamespace  = "default"
	DefaultDeployConcurrency = 4
	DefaultDeployTimeout     = "15m"
	DefaultSSHPort           = 22
	DefaultSSHUser           = "root"
	NetworkKubeRouter        = "kuberouter"
	NetworkBridge            = "bridge"
)

// Formats are the output formats 'edgeimg build' writes.
var Formats = []string{"raw", "img.zst", "img.xz", "qcow2", "vmdk", "vdi", "ova"}

// ApplyDefaults fills every field the spec leaves empty.
func (d *Document) ApplyDefaults() {
	if d.APIVersion == "" {
		d.APIVersion = APIVersion
	}
	if d.Kind == "" {
		d.Kind = Kind
	}
	if d.Metadata.Name == "" {
		d.Metadata.Name = DefaultName
	}
	s := &d.Spec
	setStr(&s.Board, DefaultBoard)
	setQty(&s.Node.CPU, "1")
	setQty(&s.Node.Memory, "1536Mi")
	setQty(&s.Node.EvictionHard, "100Mi")
	setStr(&s.K0s.Version, DefaultK0sVersion)
	setStr(&s.K0s.Network, NetworkKubeRouter)
	setStr(&s.Knative.Version, DefaultKnativeVersion)
	setStr(&s.Kourier.Version, DefaultKourierVersion)
	setStr(&s.MetalLB.Version, DefaultMetalLBVersion)
	if s.Resources.Strategy == "" {
		s.Resources.Strategy = StrategyFit
	}
	if s.Resources.Strategy == StrategyScale && s.Resources.Factor == 0 {
		s.Resources.Factor = 0.5
	}
	setQty(&s.Resources.Headroom.CPU, "100m")
	setQty(&s.Resources.Headroom.Memory, "128Mi")
	for i := range s.Services {
		setStr(&s.Services[i].Namespace, DefaultServiceNamespace)
	}
	setStr(&s.OS.Suite, DefaultSuite)
	setStr(&s.OS.Mirror, DefaultMirror)
	setStr(&s.OS.Hostname, d.Metadata.Name)
	if len(s.Output.Formats) == 0 {
		s.Output.Formats = []string{"raw"}
	}
	if s.Deploy.Concurrency == 0 {
		s.Deploy.Concurrency = DefaultDeployConcurrency
	}
	setStr(&s.Deploy.Timeout, DefaultDeployTimeout)
	for i := range s.Deploy.Hosts {
		h := &s.Deploy.Hosts[i]
		if h.Port == 0 {
			h.Port = DefaultSSHPort
		}
		setStr(&h.User, DefaultSSHUser)
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setQty(p *Quantity, v string) {
	if !p.IsSet() {
		*p = MustQuantity(v)
	}
}
