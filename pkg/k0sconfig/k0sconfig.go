package k0sconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Network providers k0s knows (spec.network.provider).
const (
	providerKubeRouter = "kuberouter"
	providerCustom     = "custom"
)

// Reservations is what the node sets aside outside the scheduler's view:
// the OS and the k0s control plane (kubelet systemReserved) and the
// memory.available hard-eviction threshold. Zero fields are left to the
// kubelet's defaults.
type Reservations struct {
	CPUMilli          int64
	MemoryBytes       int64
	EvictionHardBytes int64
}

// ReservationsFromSpec takes the reservations straight from
// spec.node.reserved and spec.node.evictionHard (unset fields stay zero).
func ReservationsFromSpec(s *spec.Spec) Reservations {
	var r Reservations
	if q := s.Node.Reserved.CPU; q.IsSet() {
		r.CPUMilli = q.MilliValue()
	}
	if q := s.Node.Reserved.Memory; q.IsSet() {
		r.MemoryBytes = q.Value()
	}
	if q := s.Node.EvictionHard; q.IsSet() {
		r.EvictionHardBytes = q.Value()
	}
	return r
}

// Option changes how Build lays out the node.
type Option func(*options)

type options struct {
	dataDir string
}

// WithDataDir sets k0s's data directory (default /var/lib/k0s): the kine
// database lives under it and the unit gets --data-dir.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// Config is the k0s configuration of one node, built and validated.
type Config struct {
	// Cluster is the full ClusterConfig as k0s will see it on the node,
	// with this machine's addresses filled in by k0s's defaults (they are
	// stripped again by YAML). Read it; change images with RewriteImages,
	// which renders k0s.yaml again.
	Cluster *v1beta1.ClusterConfig
	// DataDir is k0s's data directory on the node.
	DataDir string
	// DisabledComponents are passed to k0s with --disable-components.
	DisabledComponents []string
	// Env is k0s's environment (spec.k0s.env), passed with --env.
	Env map[string]string

	network  string  // spec.k0s.network
	user     jsonMap // the user's spec.k0s.config as a whole ClusterConfig document
	yaml     []byte  // k0s.yaml, rendered by Build
	conflist []byte  // the bridge CNI config, rendered by Build for network bridge
}

// Build makes the k0s configuration for d (defaulted and validated) with
// the kubelet reservations r, merges spec.k0s.config over it and checks the
// result with k0s's Validate, both in memory and after a round trip through
// the YAML the node will read.
func Build(d *spec.Document, r Reservations, opts ...Option) (*Config, error) {
	o := options{dataDir: k0spath.DataDir}
	for _, opt := range opts {
		opt(&o)
	}
	if !path.IsAbs(o.dataDir) || path.Clean(o.dataDir) != o.dataDir {
		return nil, fmt.Errorf("k0s data dir %q: expected a clean absolute path", o.dataDir)
	}
	if r.CPUMilli < 0 || r.MemoryBytes < 0 || r.EvictionHardBytes < 0 {
		return nil, fmt.Errorf("kubelet reservations %+v: expected no negative values", r)
	}
	s := &d.Spec
	disabled, err := checkDisabledComponents(s.K0s.DisableComponents)
	if err != nil {
		return nil, err
	}
	provider, err := providerFor(s.K0s.Network)
	if err != nil {
		return nil, err
	}
	user, err := userDocument(s.K0s.Config)
	if err != nil {
		return nil, err
	}

	base := jsonMap{
		"apiVersion": v1beta1.ClusterConfigAPIVersion,
		"kind":       v1beta1.ClusterConfigKind,
		"metadata":   jsonMap{"name": "k0s"},
		"spec":       baseSpec(s, r, provider, o.dataDir),
	}
	merged := mergeMaps(base, user, "")
	raw, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("k0s config: %w", err)
	}
	cluster, err := v1beta1.ConfigFromBytes(raw)
	if err != nil {
		return nil, &spec.FieldError{Field: userField, Msg: "k0s rejects it: " + err.Error()}
	}
	if got := cluster.Spec.Network.Provider; got != provider {
		return nil, &spec.FieldError{Field: userField, Msg: fmt.Sprintf(
			"network.provider %q conflicts with spec.k0s.network %q: choose the pod network with spec.k0s.network (%s or %s)",
			got, s.K0s.Network, spec.NetworkKubeRouter, spec.NetworkBridge)}
	}
	c := &Config{Cluster: cluster, DataDir: o.dataDir, DisabledComponents: disabled, Env: maps.Clone(s.K0s.Env), network: s.K0s.Network, user: user}
	if err := c.checkImages(); err != nil {
		return nil, err
	}
	if len(s.Images.Replace) > 0 {
		if err := c.RewriteImages(replacer(s.Images.Replace)); err != nil {
			return nil, fmt.Errorf("spec.images.replace: %w", err)
		}
	}
	if err := c.render(); err != nil {
		return nil, err
	}
	return c, nil
}

// baseSpec is what edgeimg sets in k0s.yaml before the user's config.
func baseSpec(s *spec.Spec, r Reservations, provider, dataDir string) jsonMap {
	sp := jsonMap{
		// controller --single defaults to kine as well; writing it down
		// keeps the data source right for a non-default data dir and for a
		// k0s started without --single.
		"storage": jsonMap{
			"type": string(v1beta1.KineStorageType),
			"kine": jsonMap{"dataSource": v1beta1.DefaultKineConfig(dataDir).DataSource},
		},
		"telemetry": jsonMap{"enabled": false},
		"images":    jsonMap{"default_pull_policy": PullPolicy(s)},
		"network":   jsonMap{"provider": provider},
	}
	if im, ok := releaseImages()[s.K0s.Version]; ok {
		sp["images"] = im.imagesSpec(PullPolicy(s))
		sp["network"] = jsonMap{"provider": provider,
			"nodeLocalLoadBalancing": jsonMap{"envoyProxy": jsonMap{"image": im.envoy.json()}}}
	}
	if values := kubeletValues(r, s.Node.MaxPods); len(values) > 0 {
		sp["workerProfiles"] = []any{jsonMap{"name": "default", "values": values}}
	}
	return sp
}

// PullPolicy is spec.images.default_pull_policy for k0s's system pods:
// Never when the node is fully airgapped (no spec.images.mirrors), because
// every system image is imported and pinned before the kubelet starts, so a
// pull could only fail, slowly and with a misleading network error, while
// Never reports a missing image at once by name (ErrImageNeverPull).
// IfNotPresent when mirrors are configured: the user wants a missing image
// fetched through them.
func PullPolicy(s *spec.Spec) string {
	if len(s.Images.Mirrors) > 0 {
		return "IfNotPresent"
	}
	return "Never"
}

// kubeletValues is the worker profile "default": k0s merges these
// KubeletConfiguration fields over its own defaults for the kubelet that
// `controller --single` runs.
func kubeletValues(r Reservations, maxPods int) jsonMap {
	v := jsonMap{}
	reserved := jsonMap{}
	if r.CPUMilli > 0 {
		reserved["cpu"] = resource.NewMilliQuantity(r.CPUMilli, resource.DecimalSI).String()
	}
	if r.MemoryBytes > 0 {
		reserved["memory"] = resource.NewQuantity(r.MemoryBytes, resource.BinarySI).String()
	}
	if len(reserved) > 0 {
		v["systemReserved"] = reserved
	}
	if r.EvictionHardBytes > 0 {
		// A kubelet evictionHard map replaces the defaults as a whole, so
		// the other default signals are written out too (kubelet's
		// pkg/kubelet/eviction/defaults_linux.go).
		v["evictionHard"] = jsonMap{
			"memory.available":   resource.NewQuantity(r.EvictionHardBytes, resource.BinarySI).String(),
			"nodefs.available":   "10%",
			"nodefs.inodesFree":  "5%",
			"imagefs.available":  "15%",
			"imagefs.inodesFree": "5%",
		}
	}
	if maxPods > 0 {
		v["maxPods"] = maxPods
	}
	return v
}

func providerFor(network string) (string, error) {
	switch network {
	case spec.NetworkKubeRouter, "":
		return providerKubeRouter, nil
	case spec.NetworkBridge:
		return providerCustom, nil
	}
	return "", &spec.FieldError{Field: "spec.k0s.network", Msg: fmt.Sprintf("%q: expected %s or %s", network, spec.NetworkKubeRouter, spec.NetworkBridge)}
}

// render produces the node's k0s.yaml and checks that k0s reads it back
// into a valid config.
func (c *Config) render() error {
	if errs := c.Cluster.Validate(); len(errs) > 0 {
		if c.user != nil {
			return fmt.Errorf("k0s rejects the config with %s merged in: %w", userField, errors.Join(errs...))
		}
		return fmt.Errorf("k0s rejects the generated config: %w", errors.Join(errs...))
	}
	out, err := c.nodeYAML()
	if err != nil {
		return err
	}
	back, err := v1beta1.ConfigFromBytes(out)
	if err != nil {
		return fmt.Errorf("k0s cannot read the generated k0s.yaml back: %w", err)
	}
	if errs := back.Validate(); len(errs) > 0 {
		return fmt.Errorf("k0s rejects the generated k0s.yaml: %w", errors.Join(errs...))
	}
	c.yaml = out
	if c.network == spec.NetworkBridge {
		if c.conflist, err = c.bridgeConflist(); err != nil {
			return err
		}
	}
	return nil
}

// nodeYAML marshals the cluster config as k0s does (`k0s config create`),
// minus what k0s must fill in from the node itself.
func (c *Config) nodeYAML() ([]byte, error) {
	raw, err := json.Marshal(c.Cluster)
	if err != nil {
		return nil, fmt.Errorf("encode k0s config: %w", err)
	}
	var m jsonMap
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode k0s config: %w", err)
	}
	deletePath(m, "metadata", "creationTimestamp")
	delete(m, "status")
	// Host-derived defaults: k0s computes them from the interfaces of the
	// machine it runs on. Keep them only where the user wrote them.
	for _, p := range [][]string{
		{"spec", "api", "address"},
		{"spec", "api", "sans"},
		{"spec", "storage", "etcd", "peerAddress"},
	} {
		if !hasPath(c.user, p...) {
			deletePath(m, p...)
		}
	}
	if c.Cluster.Spec.Storage.Type != v1beta1.EtcdStorageType && !hasPath(c.user, "spec", "storage", "etcd") {
		deletePath(m, "spec", "storage", "etcd")
	}
	body, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode k0s config: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("# k0s.yaml generated by edgeimg. spec.api.address and spec.api.sans are\n")
	b.WriteString("# left out on purpose: k0s fills them from the node's own interfaces.\n")
	b.Write(body)
	return b.Bytes(), nil
}

// YAML is k0s.yaml for the node.
func (c *Config) YAML() ([]byte, error) {
	if c.yaml == nil {
		return nil, errors.New("k0s config: not built (use Build)")
	}
	return bytes.Clone(c.yaml), nil
}

// InstallFlags are the arguments after `k0s install controller`.
func (c *Config) InstallFlags() []string {
	flags := []string{"--single"}
	if len(c.DisabledComponents) > 0 {
		flags = append(flags, "--disable-components="+strings.Join(c.DisabledComponents, ","))
	}
	if c.DataDir != k0spath.DataDir {
		flags = append(flags, "--data-dir="+c.DataDir)
	}
	for _, kv := range c.envList() {
		flags = append(flags, "--env="+kv)
	}
	return append(flags, "-c", k0spath.Config)
}

// unitArgs are the arguments `k0s install controller` writes into the
// unit's ExecStart for InstallFlags: the subcommand, then every flag that
// was set, sorted by name, as --name=value (k0s cmd/install cmdFlagsToArgs).
func (c *Config) unitArgs() []string {
	type flag struct{ name, value string }
	flags := []flag{{"config", k0spath.Config}, {"single", "true"}}
	if len(c.DisabledComponents) > 0 {
		flags = append(flags, flag{"disable-components", strings.Join(c.DisabledComponents, ",")})
	}
	if c.DataDir != k0spath.DataDir {
		flags = append(flags, flag{"data-dir", c.DataDir})
	}
	slices.SortFunc(flags, func(a, b flag) int { return strings.Compare(a.name, b.name) })
	args := []string{"controller"}
	for _, f := range flags {
		args = append(args, "--"+f.name+"="+f.value)
	}
	return args
}

// envList is Env as NAME=VALUE, sorted by name, in the form the unit's
// Environment= needs: k0s install writes each --env into the unit as is,
// and systemd expands '%' there as a specifier (%h: a home directory), so
// '%' is written '%%' (GOMEMLIMIT or GODEBUG values reach the process as
// given). The spec refuses quotes, backslashes and line breaks in values.
func (c *Config) envList() []string {
	out := make([]string, 0, len(c.Env))
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		out = append(out, k+"="+strings.ReplaceAll(c.Env[k], "%", "%%"))
	}
	return out
}

// Disabled reports whether the k0s component is disabled.
func (c *Config) Disabled(component string) bool {
	return slices.Contains(c.DisabledComponents, component)
}

// FailCgroupV1 reports whether the node's kubelet refuses a cgroup v1 host
// (KubeletConfiguration failCgroupV1, Kubernetes 1.35 and later): true
// unless the worker profile "default", the one `controller --single`
// runs, sets it to false. edgeimg never sets it: upstream's default stands
// unless spec.k0s.config opts out.
func (c *Config) FailCgroupV1() bool { return FailCgroupV1(c.Cluster) }

// FailCgroupV1 is Config.FailCgroupV1 for a k0s.yaml read back (a payload
// tree's).
func FailCgroupV1(cc *v1beta1.ClusterConfig) bool {
	if cc == nil || cc.Spec == nil {
		return true
	}
	for _, p := range cc.Spec.WorkerProfiles {
		if p.Name != "default" || p.Config == nil {
			continue
		}
		var v struct {
			FailCgroupV1 *bool `json:"failCgroupV1"`
		}
		if json.Unmarshal(p.Config.Raw, &v) == nil && v.FailCgroupV1 != nil {
			return *v.FailCgroupV1
		}
	}
	return true
}
