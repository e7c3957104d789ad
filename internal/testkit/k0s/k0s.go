package k0s

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"
)

// PauseImage is the sandbox image k0s 1.33 configures containerd with.
const PauseImage = "quay.io/k0sproject/pause:3.10.1"

// DefaultConfig is a single-node k0s.yaml for the harness: custom network
// provider (the harness's bridge CNI), kube-proxy that leaves conntrack
// sysctls alone, telemetry off. Start fills in the API address.
const DefaultConfig = `apiVersion: k0s.k0sproject.io/v1beta1
kind: ClusterConfig
metadata:
  name: k0s
spec:
  network:
    provider: custom
    podCIDR: 10.244.0.0/16
    serviceCIDR: 10.96.0.0/12
    kubeProxy:
      extraArgs:
        conntrack-max-per-core: "0"
  telemetry:
    enabled: false
`

// Options configures Start. The zero value runs DefaultConfig.
type Options struct {
	// Config is the k0s.yaml. Start sets spec.api.address (and adds it
	// to spec.api.sans) to the node's address in its network namespace,
	// and turns telemetry off; everything else is the caller's.
	Config string
	// ImageTars are copied into <data-dir>/images before k0s starts (k0s
	// imports every uncompressed OCI-layout or docker-save tar there).
	ImageTars []string
	// Manifests are written under <data-dir>/manifests before k0s starts,
	// keyed by path relative to it ("<stack>/<file>.yaml").
	Manifests map[string][]byte
	// ContainerdConfig are extra /etc/k0s/containerd.d/*.toml files (name
	// → content), private to the cluster's mount namespace, added to the
	// harness's own (restrict_oom_score_adj, CNI directories).
	ContainerdConfig map[string]string
	// CNIConfig is the CNI conflist; empty means a bridge network on
	// 10.244.0.0/24 with host-local IPAM in the data dir. A host-local
	// IPAM without a dataDir gets one in the data dir too, so no address
	// lease is written to the host's /var/lib/cni.
	CNIConfig string
	// ExtraArgs are extra `k0s controller` flags (for example
	// --disable-components=metrics-server).
	ExtraArgs []string
	// KubeletExtraArgs are appended to the harness's kubelet flags.
	KubeletExtraArgs []string
	// Env is added to k0s's environment, which k0s passes on to every
	// component it runs; a variable named <COMPONENT>_<NAME> (upper-cased
	// component name, such as KUBE-APISERVER_GOGC) becomes <NAME> for that
	// component only (k0s pkg/supervisor getEnv). Names may contain '-':
	// they reach k0s through env(1), not a shell.
	Env map[string]string
	// BeforeStart, when set, runs after the data dir is laid out (bin,
	// images, manifests) and before k0s starts: for example to preload
	// <data-dir>/containerd.
	BeforeStart func(dataDir string) error
	// ConfigFunc, when set, is called after BeforeStart and its result
	// replaces Config: for a k0s.yaml rendered for the data dir (kine's
	// data source lives under it).
	ConfigFunc func(dataDir string) (string, error)
	// CPUMilli, when positive, caps the CPU time of the whole cluster (k0s,
	// its components, containerd and every pod) with a CFS quota on its
	// cgroup: 1000 is one CPU's worth, a node with fewer CPUs than this
	// machine. (A cpuset cannot do it: the kubelet writes all of the
	// machine's CPUs into its kubepods cpuset.)
	CPUMilli int64
	// MemoryLimit, when positive, is a hard memory limit (bytes) on the
	// whole cluster's cgroup, page cache included: a node with less memory
	// than this machine. The cluster is then also charged for every file
	// page it uses, as a real node's memory holds them: the binaries are
	// copied into the data dir instead of linked, and the page cache of the
	// data dir (copies, preloaded images) is dropped before k0s starts, so
	// no page the cluster maps was read, and charged, elsewhere first.
	MemoryLimit int64
	// Timeout bounds the wait for apiserver and node readiness (default 4 min).
	Timeout time.Duration
}

// Cluster is a running `k0s controller --single`.
type Cluster struct {
	// DataDir is k0s's --data-dir (binaries in DataDir/bin).
	DataDir string
	// Kubeconfig is an admin kubeconfig pointing at Address:6443.
	Kubeconfig string
	// Config is the same as a rest.Config.
	Config *rest.Config
	// ContainerdSocket is k0s's containerd socket, reachable from the test.
	ContainerdSocket string
	// Address is the node's IPv4 address in its network namespace; the test
	// reaches it over a veth.
	Address string
	// NetNS is the network namespace's name (/run/netns/NetNS).
	NetNS string
	// Log is k0s's combined log.
	Log string
	// CgroupDirs are the cluster's cgroup directories, one per hierarchy
	// (cgroup v1) or the one of the v2 tree: k0s's processes in k0s/,
	// the pods under kubepods/.
	CgroupDirs []string
	// Start is when k0s was started; APIServerReady and NodeReady count
	// from it.
	Start time.Time
	// APIServerReady and NodeReady are measured from the k0s start.
	APIServerReady, NodeReady time.Duration

	stop func()
}

// Command returns a command that runs in the cluster's network namespace
// (to reach pod and Service IPs, or inspect its iptables rules).
func (k *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + k.NetNS, "--", name}, args...)...)
}

// Stop stops k0s, kills every process of the cluster (components, shims,
// containers), removes its cgroups, network namespace, veth and data dir.
// It runs once, also from t.Cleanup.
func (k *Cluster) Stop() { k.stop() }

// k0sBinaries are the binaries k0s (built with noembedbins) runs from
// <data-dir>/bin for `controller --single`, besides containerd's.
var k0sBinaries = []string{"kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}

// debianBinaries are taken from Debian packages: name in <data-dir>/bin →
// host path, package.
var debianBinaries = []struct{ name, path, pkg string }{
	{"runc", "/usr/sbin/runc", "runc"},
	{"xtables-legacy-multi", "/usr/sbin/xtables-legacy-multi", "iptables"},
	{"xtables-nft-multi", "/usr/sbin/xtables-nft-multi", "iptables"},
}

// DebianCNIDir is where Debian's containernetworking-plugins installs.
const DebianCNIDir = "/usr/lib/cni"

// Start runs `k0s controller --single` from binaries built by
// hack/build-bins.sh (and containerd from hack/build-containerd.sh), as root,
// in a network namespace with a veth to the test and in a private mount
// namespace: /etc and /var/log are overlays and /run is a directory of the
// harness there, so /etc/k0s/containerd.d, /run/k0s and pod logs never touch
// the host. Every process of the cluster runs in a cgroup of its own. It
// waits for the apiserver's /readyz and the node to be Ready, and stops
// everything in t.Cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	requireHost(t)
	bins := Binaries(t)
	if opts.Timeout == 0 {
		opts.Timeout = 4 * time.Minute
	}
	cfgYAML := opts.Config
	if cfgYAML == "" {
		cfgYAML = DefaultConfig
	}

	k, err := start(t.Logf, bins, cfgYAML, opts)
	if k != nil {
		t.Cleanup(func() {
			if t.Failed() && err == nil {
				if b, rerr := os.ReadFile(k.Log); rerr == nil {
					t.Logf("--- k0s.log (tail)\n%s", testkit.Tail(string(b), 80))
				}
			}
			k.Stop()
		})
	}
	if err != nil {
		t.Fatalf("k0s: %v", err)
	}
	t.Logf("k0s: apiserver ready after %s, node Ready after %s (data dir %s)",
		k.APIServerReady.Round(10*time.Millisecond), k.NodeReady.Round(10*time.Millisecond), k.DataDir)
	return k
}

// requireHost stops the test (per testkit.Require) unless this is Linux, as
// root, with the host commands and Debian binaries k0s is started with.
func requireHost(t testing.TB) {
	t.Helper()
	testkit.Require(t, runtime.GOOS == "linux" && os.Geteuid() == 0, "k0s needs Linux and root")
	for _, c := range []string{"unshare", "nsenter", "ip", "mount"} {
		_, err := exec.LookPath(c)
		testkit.Require(t, err == nil, c+" not found (Debian packages util-linux, iproute2, mount)")
	}
	for _, b := range debianBinaries {
		_, err := os.Stat(b.path)
		testkit.Require(t, err == nil, fmt.Sprintf("%s not found (Debian package %s)", b.path, b.pkg))
	}
	_, err := os.Stat(filepath.Join(DebianCNIDir, "bridge"))
	testkit.Require(t, err == nil, "CNI plugins not found in "+DebianCNIDir+" (Debian package containernetworking-plugins)")
}

// Binaries maps each name k0s runs from <data-dir>/bin to its host path,
// and "k0s" to the k0s binary: built by hack/build-bins.sh and
// hack/build-containerd.sh, or Debian's. It skips (fails under
// EDGEIMG_CI) when a build is missing.
func Binaries(t testing.TB) map[string]string {
	t.Helper()
	bins := map[string]string{"k0s": testkit.Binary(t, "k0s")}
	for _, b := range k0sBinaries {
		bins[b] = testkit.Binary(t, b)
	}
	ctrdDir, err := ctrd.BuildDir(testkit.ModuleRoot(t))
	testkit.Require(t, err == nil, fmt.Sprintf("containerd of the k0s line (%s): %v", LineEnv, err))
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		bins[b] = filepath.Join(ctrdDir, b)
	}
	for _, b := range debianBinaries {
		bins[b.name] = b.path
	}
	return bins
}
