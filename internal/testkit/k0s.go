package testkit

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// K0sPauseImage is the sandbox image k0s 1.33 configures containerd with.
const K0sPauseImage = "quay.io/k0sproject/pause:3.10.1"

// k0sContainerdVersion is the containerd k0s 1.33 embeds; its binaries come
// from hack/build-containerd.sh.
const k0sContainerdVersion = "1.7.30"

// DefaultK0sConfig is a single-node k0s.yaml for the harness: custom network
// provider (the harness's bridge CNI), kube-proxy that leaves conntrack
// sysctls alone, telemetry off. StartK0s fills in the API address.
const DefaultK0sConfig = `apiVersion: k0s.k0sproject.io/v1beta1
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

// K0sOptions configures StartK0s. The zero value runs DefaultK0sConfig.
type K0sOptions struct {
	// Config is the k0s.yaml. StartK0s sets spec.api.address (and adds it
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

// K0s is a running `k0s controller --single`.
type K0s struct {
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
func (k *K0s) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + k.NetNS, "--", name}, args...)...)
}

// Stop stops k0s, kills every process of the cluster (components, shims,
// containers), removes its cgroups, network namespace, veth and data dir.
// It runs once, also from t.Cleanup.
func (k *K0s) Stop() { k.stop() }

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

// StartK0s runs `k0s controller --single` from binaries built by
// hack/build-bins.sh (and containerd from hack/build-containerd.sh), as root,
// in a network namespace with a veth to the test and in a private mount
// namespace: /etc and /var/log are overlays and /run is a directory of the
// harness there, so /etc/k0s/containerd.d, /run/k0s and pod logs never touch
// the host. Every process of the cluster runs in a cgroup of its own. It
// waits for the apiserver's /readyz and the node to be Ready, and stops
// everything in t.Cleanup.
func StartK0s(t testing.TB, opts K0sOptions) *K0s {
	t.Helper()
	Require(t, runtime.GOOS == "linux" && os.Geteuid() == 0, "k0s needs Linux and root")
	for _, c := range []string{"unshare", "nsenter", "ip", "mount"} {
		_, err := exec.LookPath(c)
		Require(t, err == nil, c+" not found (Debian packages util-linux, iproute2, mount)")
	}
	for _, b := range debianBinaries {
		_, err := os.Stat(b.path)
		Require(t, err == nil, fmt.Sprintf("%s not found (Debian package %s)", b.path, b.pkg))
	}
	_, err := os.Stat(filepath.Join(DebianCNIDir, "bridge"))
	Require(t, err == nil, "CNI plugins not found in "+DebianCNIDir+" (Debian package containernetworking-plugins)")

	bins := map[string]string{"k0s": Binary(t, "k0s")}
	for _, b := range k0sBinaries {
		bins[b] = Binary(t, b)
	}
	ctrd, err := containerdDir(ModuleRoot(t))
	Require(t, err == nil, fmt.Sprintf("containerd %s: %v", k0sContainerdVersion, err))
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		bins[b] = filepath.Join(ctrd, b)
	}
	for _, b := range debianBinaries {
		bins[b.name] = b.path
	}

	if opts.Timeout == 0 {
		opts.Timeout = 4 * time.Minute
	}
	cfgYAML := opts.Config
	if cfgYAML == "" {
		cfgYAML = DefaultK0sConfig
	}

	k, err := startK0s(t.Logf, bins, cfgYAML, opts)
	if k != nil {
		t.Cleanup(func() {
			if t.Failed() && err == nil {
				if b, rerr := os.ReadFile(k.Log); rerr == nil {
					t.Logf("--- k0s.log (tail)\n%s", tail(string(b), 80))
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

// containerdDir returns the directory with containerd and its runc shim:
// hack/build-containerd.sh's answer when the script is there, else its
// cache directory when complete.
func containerdDir(root string) (string, error) {
	script := filepath.Join(root, "hack", "build-containerd.sh")
	if _, err := os.Stat(script); err == nil {
		var out, errb bytes.Buffer
		cmd := exec.Command("bash", script, "-q")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, &out, &errb
		cmd.Env = append(os.Environ(), "EDGEIMG_CACHE="+CacheDir())
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", script, err, tail(errb.String(), 20))
		}
		return strings.TrimSpace(out.String()), nil
	}
	gover := strings.TrimPrefix(runtime.Version(), "go")
	if v, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		gover = strings.TrimPrefix(strings.TrimSpace(string(v)), "go")
	}
	dir := filepath.Join(CacheDir(), "build", "containerd-"+k0sContainerdVersion+"-go"+gover)
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("no hack/build-containerd.sh and no cached build: %w", err)
		}
	}
	return dir, nil
}

// k0sLaunch runs inside `unshare -m --propagation slave nsenter --net=...`:
// it moves itself into the cluster's cgroups, makes the host paths k0s
// writes private, and execs k0s.
const k0sLaunch = `set -eu
state=$1; shift
for procs in $K0S_CGROUP_PROCS; do echo $$ > "$procs"; done
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$state/etc.upper,workdir=$state/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/var/log,upperdir=$state/log.upper,workdir=$state/log.work" /var/log
mount --bind "$state/run" /run
ip link set lo up
exec "$@"
`

func startK0s(logf func(string, ...any), bins map[string]string, cfgYAML string, opts K0sOptions) (_ *K0s, err error) {
	id := randHex(4)
	// Short: unix socket paths under it must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "edgeimg-k0s-")
	if err != nil {
		return nil, err
	}
	var (
		cleanups []func()
		once     sync.Once
	)
	k := &K0s{DataDir: filepath.Join(dir, "data"), NetNS: "edgeimg-" + id, Log: filepath.Join(dir, "k0s.log")}
	state := filepath.Join(dir, "state")
	k.stop = func() {
		once.Do(func() {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			if err := os.RemoveAll(dir); err != nil {
				logf("k0s: remove %s: %v", dir, err)
			}
		})
	}
	defer func() {
		if err != nil {
			// Keep the log for the error message; Stop runs in t.Cleanup.
			if b, rerr := os.ReadFile(k.Log); rerr == nil {
				err = fmt.Errorf("%w\n--- k0s.log (tail)\n%s", err, tail(string(b), 60))
			}
		}
	}()

	for _, d := range []string{"data/bin", "data/images", "data/manifests", "data/cni/net.d", "data/cni/ipam",
		"state/etc.upper/k0s/containerd.d", "state/etc.work", "state/log.upper", "state/log.work", "state/run"} {
		if err = os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return k, err
		}
	}
	for n, p := range bins {
		dst := filepath.Join(k.DataDir, "bin", n)
		switch {
		case opts.MemoryLimit > 0 && n == "k0s":
			dst = filepath.Join(dir, "k0s")
			fallthrough
		case opts.MemoryLimit > 0:
			if err = copyFile(p, dst); err != nil {
				return k, err
			}
			if err = os.Chmod(dst, 0o755); err != nil {
				return k, err
			}
			bins[n] = dst
		case n != "k0s":
			if err = os.Symlink(p, dst); err != nil {
				return k, err
			}
		}
	}
	for _, tarPath := range opts.ImageTars {
		if err = copyFile(tarPath, filepath.Join(k.DataDir, "images", filepath.Base(tarPath))); err != nil {
			return k, fmt.Errorf("image tar: %w", err)
		}
	}
	for rel, data := range opts.Manifests {
		p := filepath.Join(k.DataDir, "manifests", filepath.FromSlash(rel))
		if !strings.HasPrefix(p, filepath.Join(k.DataDir, "manifests")+string(filepath.Separator)) {
			return k, fmt.Errorf("manifest path %q escapes the manifests dir", rel)
		}
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return k, err
		}
		if err = os.WriteFile(p, data, 0o644); err != nil {
			return k, err
		}
	}
	cni := bridgeCNIConfig(filepath.Join(k.DataDir, "cni", "ipam"))
	if opts.CNIConfig != "" {
		if cni, err = privateIPAM(opts.CNIConfig, filepath.Join(k.DataDir, "cni", "ipam")); err != nil {
			return k, err
		}
	}
	if err = os.WriteFile(filepath.Join(k.DataDir, "cni", "net.d", "10-edgeimg.conflist"), []byte(cni), 0o644); err != nil {
		return k, err
	}
	ctrdDir := filepath.Join(state, "etc.upper", "k0s", "containerd.d")
	ctrdConf := fmt.Sprintf(`version = 2
[plugins."io.containerd.grpc.v1.cri"]
  # Lowering oom_score_adj below the parent's needs CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, DebianCNIDir, filepath.Join(k.DataDir, "cni", "net.d"))
	if err = os.WriteFile(filepath.Join(ctrdDir, "00-edgeimg-testkit.toml"), []byte(ctrdConf), 0o644); err != nil {
		return k, err
	}
	for n, c := range opts.ContainerdConfig {
		if filepath.Base(n) != n || !strings.HasSuffix(n, ".toml") {
			return k, fmt.Errorf("containerd config %q: want a plain *.toml file name", n)
		}
		if err = os.WriteFile(filepath.Join(ctrdDir, n), []byte(c), 0o644); err != nil {
			return k, err
		}
	}

	if opts.BeforeStart != nil {
		if err = opts.BeforeStart(k.DataDir); err != nil {
			return k, fmt.Errorf("before start: %w", err)
		}
	}
	if opts.ConfigFunc != nil {
		if cfgYAML, err = opts.ConfigFunc(k.DataDir); err != nil {
			return k, fmt.Errorf("k0s config: %w", err)
		}
	}
	if opts.MemoryLimit > 0 {
		if err = dropPageCache(dir); err != nil {
			return k, err
		}
	}

	// Network namespace with a veth to the test.
	hostIP, nsIP, err := pickVethSubnet()
	if err != nil {
		return k, err
	}
	k.Address = nsIP.String()
	hostIf, peerIf := "ek"+id, "ekp"+id
	if err = runCmd("ip", "netns", "add", k.NetNS); err != nil {
		return k, err
	}
	cleanups = append(cleanups, func() { _ = runCmd("ip", "netns", "del", k.NetNS) })
	if err = runCmd("ip", "link", "add", hostIf, "type", "veth", "peer", "name", peerIf); err != nil {
		return k, err
	}
	cleanups = append(cleanups, func() { _ = runCmd("ip", "link", "del", hostIf) })
	nsx := func(args ...string) error { return runCmd("ip", append([]string{"-n", k.NetNS}, args...)...) }
	for _, c := range [][]string{
		{"ip", "link", "set", peerIf, "netns", k.NetNS},
		{"ip", "addr", "add", hostIP.String() + "/30", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
	} {
		if err = runCmd(c[0], c[1:]...); err != nil {
			return k, err
		}
	}
	for _, c := range [][]string{
		{"link", "set", peerIf, "name", "eth0"},
		{"addr", "add", nsIP.String() + "/30", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"link", "set", "lo", "up"},
		// kubelet picks the node IP from the default route.
		{"route", "add", "default", "via", hostIP.String()},
	} {
		if err = nsx(c...); err != nil {
			return k, err
		}
	}

	cg, err := newClusterCgroups("edgeimg-k0s-" + id)
	if err != nil {
		return k, err
	}
	k.CgroupDirs = append([]string(nil), cg.dirs...)
	cleanups = append(cleanups, func() {
		if err := cg.killAndRemove(30 * time.Second); err != nil {
			logf("k0s: cgroups: %v", err)
		}
	})
	if err = cg.limit(opts.CPUMilli, opts.MemoryLimit); err != nil {
		return k, err
	}

	cfgPath := filepath.Join(dir, "k0s.yaml")
	cfg, err := k0sConfigFor(cfgYAML, k.Address)
	if err != nil {
		return k, err
	}
	if err = os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return k, err
	}

	kubeletArgs := append([]string{
		"--cgroup-root=" + cg.root,
		"--runtime-cgroups=" + cg.root + "/runtime",
	}, opts.KubeletExtraArgs...)
	args := append([]string{
		"-m", "--propagation", "slave", "nsenter", "--net=/run/netns/" + k.NetNS, "--",
		"/bin/sh", "-c", k0sLaunch, "k0s-launch", state,
	}, envArgs(opts.Env)...)
	args = append(args, bins["k0s"], "controller", "--single",
		"--data-dir="+k.DataDir,
		"--config="+cfgPath,
		"--kubelet-extra-args="+strings.Join(kubeletArgs, " "))
	args = append(args, opts.ExtraArgs...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "K0S_CGROUP_PROCS="+strings.Join(cg.procsFiles("k0s"), " "))
	start := time.Now()
	k.Start = start
	p, err := StartCommand(k.Log, cmd)
	if err != nil {
		return k, err
	}
	cleanups = append(cleanups, func() {
		// k0s stops its components on SIGTERM; the cgroup sweep that runs
		// next kills whatever is left (shims, containers).
		p.Stop(45 * time.Second)
	})

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	k.ContainerdSocket = filepath.Join(state, "run", "k0s", "containerd.sock")
	admin := filepath.Join(k.DataDir, "pki", "admin.conf")
	if err = waitFile(ctx, admin, p); err != nil {
		return k, fmt.Errorf("admin kubeconfig: %w", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		return k, fmt.Errorf("admin kubeconfig: %w", err)
	}
	rc.Host = "https://" + net.JoinHostPort(k.Address, "6443")
	rc.QPS, rc.Burst = 100, 200
	k.Config = rc
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err = WriteKubeconfig(k.Kubeconfig, rc); err != nil {
		return k, err
	}
	if err = WaitReadyz(ctx, rc, p); err != nil {
		return k, err
	}
	k.APIServerReady = time.Since(start)
	if err = waitNodeReady(ctx, rc, p); err != nil {
		return k, err
	}
	k.NodeReady = time.Since(start)
	return k, nil
}

// envArgs runs the command through env(1) with env added: a POSIX shell
// drops variables whose names are not shell identifiers (such as
// KUBE-APISERVER_GOGC) from the environment of what it execs.
func envArgs(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	args := []string{"/usr/bin/env"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, k+"="+env[k])
	}
	return args
}

// k0sConfigFor sets spec.api.address (and sans) and turns telemetry off in
// a k0s.yaml, keeping every other field.
func k0sConfigFor(cfgYAML, address string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(cfgYAML), &doc); err != nil {
		return nil, fmt.Errorf("k0s config: %w", err)
	}
	if doc == nil || doc["kind"] != "ClusterConfig" {
		return nil, fmt.Errorf("k0s config: want kind ClusterConfig, got %v", doc["kind"])
	}
	child := func(m map[string]any, key string) (map[string]any, error) {
		switch v := m[key].(type) {
		case nil:
			c := map[string]any{}
			m[key] = c
			return c, nil
		case map[string]any:
			return v, nil
		default:
			return nil, fmt.Errorf("k0s config: %s is %T, want a mapping", key, v)
		}
	}
	spec, err := child(doc, "spec")
	if err != nil {
		return nil, err
	}
	api, err := child(spec, "api")
	if err != nil {
		return nil, err
	}
	api["address"] = address
	sans, _ := api["sans"].([]any)
	api["sans"] = append(sans, address)
	tel, err := child(spec, "telemetry")
	if err != nil {
		return nil, err
	}
	tel["enabled"] = false
	return yaml.Marshal(doc)
}

func bridgeCNIConfig(ipamDir string) string {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "edgeimg-bridge",
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      "cni0",
			"isGateway":   true,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  []any{[]any{map[string]any{"subnet": "10.244.0.0/24"}}},
				"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
				"dataDir": ipamDir,
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b)
}

// privateIPAM sets dataDir on every host-local IPAM of a conflist that has
// none (its default is the host's /var/lib/cni/networks).
func privateIPAM(conflist, dir string) (string, error) {
	var conf map[string]any
	if err := json.Unmarshal([]byte(conflist), &conf); err != nil {
		return "", fmt.Errorf("CNI config: %w", err)
	}
	plugins, _ := conf["plugins"].([]any)
	for _, p := range plugins {
		pm, _ := p.(map[string]any)
		ipam, _ := pm["ipam"].(map[string]any)
		if ipam != nil && ipam["type"] == "host-local" && ipam["dataDir"] == nil {
			ipam["dataDir"] = dir
		}
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("CNI config: %w", err)
	}
	return string(b), nil
}

// pickVethSubnet picks a /30 in 172.31.128.0/17 that no host route covers.
func pickVethSubnet() (hostIP, nsIP net.IP, err error) {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ip route: %w", err)
	}
	var used []*net.IPNet
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unreachable" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if _, n, err := net.ParseCIDR(dst); err == nil {
			used = append(used, n)
		}
	}
	for try := 0; try < 64; try++ {
		var b [2]byte
		_, _ = rand.Read(b[:])
		base := net.IPv4(172, 31, 128|b[0]&0x7f, b[1]&0xfc).To4()
		n := &net.IPNet{IP: base, Mask: net.CIDRMask(30, 32)}
		free := true
		for _, u := range used {
			if u.Contains(n.IP) || n.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			h := append(net.IP(nil), base...)
			h[3]++
			p := append(net.IP(nil), base...)
			p[3] += 2
			return h, p, nil
		}
	}
	return nil, nil, errors.New("no free /30 for the veth in 172.31.128.0/17")
}

// clusterCgroups is a cgroup (in every v1 hierarchy, or the v2 tree) that
// holds all of one cluster's processes: k0s in <root>/k0s, kubelet's pods
// under <root>/kubepods, containerd in <root>/runtime.
type clusterCgroups struct {
	root string   // "/edgeimg-k0s-<id>"
	dirs []string // <mount>/<root> for each hierarchy
}

func newClusterCgroups(name string) (*clusterCgroups, error) {
	cg := &clusterCgroups{root: "/" + name}
	const base = "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(base, "cgroup.controllers")); err == nil {
		// cgroup v2: one tree; delegate the controllers kubelet needs.
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", d, err)
		}
		cg.dirs = []string{d}
		ctrls, _ := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
		var enable []string
		for _, c := range strings.Fields(string(ctrls)) {
			enable = append(enable, "+"+c)
		}
		if err := os.Mkdir(filepath.Join(d, "k0s"), 0o755); err != nil {
			return nil, err
		}
		if len(enable) > 0 {
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
				return nil, fmt.Errorf("cgroup %s: enable controllers: %w", d, err)
			}
		}
		return cg, nil
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	for _, e := range entries {
		mnt := filepath.Join(base, e.Name())
		if fi, err := os.Lstat(mnt); err != nil || !fi.IsDir() {
			continue // symlinks such as cpu,cpuacct → cpu
		}
		if _, err := os.Stat(filepath.Join(mnt, "cgroup.procs")); err != nil {
			continue
		}
		d := filepath.Join(mnt, name)
		for _, sub := range []string{d, filepath.Join(d, "k0s")} {
			if err := os.Mkdir(sub, 0o755); err != nil {
				cg.remove()
				return nil, fmt.Errorf("cgroup %s: %w", sub, err)
			}
			cg.dirs = appendOnce(cg.dirs, d)
			if strings.Contains(e.Name(), "cpuset") {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, _ := os.ReadFile(filepath.Join(mnt, f))
					if err := os.WriteFile(filepath.Join(sub, f), v, 0o644); err != nil {
						cg.remove()
						return nil, fmt.Errorf("cgroup %s: %w", sub, err)
					}
				}
			}
		}
	}
	if len(cg.dirs) == 0 {
		return nil, errors.New("cgroups: no hierarchy under " + base)
	}
	return cg, nil
}

// limit caps the cluster's cgroup (and so every child) at cpuMilli of CPU
// time and a memory limit; zero leaves them as they are.
func (cg *clusterCgroups) limit(cpuMilli, memory int64) error {
	write := func(file, value string) error {
		for _, d := range cg.dirs {
			p := filepath.Join(d, file)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
				return fmt.Errorf("cgroup %s = %s: %w", p, value, err)
			}
			return nil
		}
		return fmt.Errorf("cgroups %v: no %s", cg.dirs, file)
	}
	if cpuMilli > 0 {
		const period = 100000 // µs
		quota := strconv.FormatInt(cpuMilli*period/1000, 10)
		if err := write("cpu.cfs_quota_us", quota); err != nil {
			if err2 := write("cpu.max", quota+" "+strconv.Itoa(period)); err2 != nil {
				return errors.Join(err, err2)
			}
		} else if err := write("cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
			return err
		}
	}
	if memory > 0 {
		v := strconv.FormatInt(memory, 10)
		if err := write("memory.limit_in_bytes", v); err != nil {
			if err2 := write("memory.max", v); err2 != nil {
				return errors.Join(err, err2)
			}
		}
	}
	return nil
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// procsFiles are the cgroup.procs files of the child cgroup sub.
func (cg *clusterCgroups) procsFiles(sub string) []string {
	var fs []string
	for _, d := range cg.dirs {
		fs = append(fs, filepath.Join(d, sub, "cgroup.procs"))
	}
	return fs
}

// pids lists the processes anywhere in the cluster's cgroups.
func (cg *clusterCgroups) pids() map[int]bool {
	pids := map[int]bool{}
	for _, d := range cg.dirs {
		maps.Copy(pids, PIDsUnder(d))
	}
	return pids
}

// PIDsUnder lists the processes in the cgroup directory dir and its
// descendants (none when dir does not exist).
func PIDsUnder(dir string) map[int]bool {
	pids := map[int]bool{}
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids[pid] = true
			}
		}
		return nil
	})
	return pids
}

// killAndRemove SIGKILLs every process in the cgroups until none is left,
// then removes the cgroup directories.
func (cg *clusterCgroups) killAndRemove(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := cg.pids()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes still alive in %s", len(pids), cg.root)
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cg.remove()
}

// remove deletes the cgroup trees, deepest first.
func (cg *clusterCgroups) remove() error {
	var errs []error
	for _, d := range cg.dirs {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func waitFile(ctx context.Context, path string, p *Process) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited: %v", p.Name(), p.Err())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitNodeReady(ctx context.Context, cfg *rest.Config, p *Process) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	last := "no node registered"
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v", p.Name(), p.Err())
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, n := range nodes.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady {
						if c.Status == corev1.ConditionTrue {
							return nil
						}
						last = fmt.Sprintf("node %s: %s: %s", n.Name, c.Reason, c.Message)
					}
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node Ready: %w (last: %s)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dropPageCache writes back and drops the page cache of every regular file
// under dir (posix_fadvise DONTNEED), so the next reader is charged for it.
func dropPageCache(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("drop page cache: %w", err)
		}
		defer f.Close()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("drop page cache: fdatasync %s: %w", p, err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("drop page cache: fadvise %s: %w", p, err)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ContainerImage is a one-layer test image made of host files: typically
// one static binary, or dynamically linked programs with their libraries
// (HostExecutableFiles).
type ContainerImage struct {
	// Ref names the image in the tar (e.g. K0sPauseImage).
	Ref string
	// Binary, when set, is a host executable stored as /<base name>.
	Binary string
	// Files are further files and symlinks.
	Files []ContainerFile
	// Entrypoint defaults to ["/<base name of Binary>"].
	Entrypoint []string
	// Env is the image config's environment.
	Env []string
	// User is the image config's user ("65532", "65532:65532"); empty
	// means root. Pods with runAsNonRoot need a numeric non-root user.
	User string
}

// ContainerFile is a file of a ContainerImage: a copy of a host file, or a
// symlink.
type ContainerFile struct {
	// Path is the absolute path in the image.
	Path string
	// Source is the host file whose content and permission bits it gets.
	Source string
	// Link makes it a symlink to Link instead.
	Link string
}

// WriteImageTar writes images as one docker-save tar (an uncompressed tar
// with gzip layers), as k0s imports from <data-dir>/images and `ctr images
// import` reads. The images are linux/<GOARCH>, OCI media types, with fixed
// timestamps. The tar appears complete or not at all.
func WriteImageTar(path string, images ...ContainerImage) error {
	refs := map[name.Reference]v1.Image{}
	for _, im := range images {
		ref, err := name.ParseReference(im.Ref)
		if err != nil {
			return fmt.Errorf("image %q: %w", im.Ref, err)
		}
		img, err := containerImage(im)
		if err != nil {
			return fmt.Errorf("image %s: %w", im.Ref, err)
		}
		refs[ref] = img
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Image packs the image as WriteImageTar does, for a registry push.
func (im ContainerImage) Image() (v1.Image, error) { return containerImage(im) }

func containerImage(im ContainerImage) (v1.Image, error) {
	files := im.Files
	entrypoint := im.Entrypoint
	if im.Binary != "" {
		base := filepath.Base(im.Binary)
		files = append([]ContainerFile{{Path: "/" + base, Source: im.Binary}}, files...)
		if len(entrypoint) == 0 {
			entrypoint = []string{"/" + base}
		}
	}
	layerBytes, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0)}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = im.Env
	cf.Config.User = im.User
	return mutate.ConfigFile(img, cf)
}

// layerTar is an uncompressed layer with files (parent directories added,
// each path once, first wins), timestamps at the epoch.
func layerTar(files []ContainerFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	seen := map[string]bool{}
	var addDirs func(p string) error
	addDirs = func(p string) error {
		d := filepath.Dir(p)
		if d == "/" || seen[d] {
			return nil
		}
		if err := addDirs(d); err != nil {
			return err
		}
		seen[d] = true
		return tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir})
	}
	for _, f := range files {
		p := filepath.Clean(f.Path)
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("image file %q: want an absolute path", f.Path)
		}
		if seen[p] {
			continue
		}
		if err := addDirs(p); err != nil {
			return nil, err
		}
		seen[p] = true
		name := strings.TrimPrefix(p, "/")
		if f.Link != "" {
			if err := tw.WriteHeader(&tar.Header{Name: name, Linkname: f.Link, Mode: 0o777, ModTime: epoch, Typeflag: tar.TypeSymlink}); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, fmt.Errorf("image file %s: %w", p, err)
		}
		fi, err := os.Stat(f.Source)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// HostExecutableFiles returns the image files that run a dynamically linked
// host program: the program and every shared library and ELF interpreter
// ldd names, each copied to the path it has on the host.
func HostExecutableFiles(paths ...string) ([]ContainerFile, error) {
	var files []ContainerFile
	for _, p := range paths {
		files = append(files, ContainerFile{Path: p, Source: p})
		out, err := exec.Command("ldd", p).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "not a dynamic executable") {
				continue
			}
			return nil, fmt.Errorf("ldd %s: %w: %s", p, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			var lib string
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				lib = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				lib = f[0]
			case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
				return nil, fmt.Errorf("ldd %s: %s not found", p, f[0])
			}
			if lib != "" {
				files = append(files, ContainerFile{Path: lib, Source: lib})
			}
		}
	}
	return files, nil
}

// KubeProxyImage is k0s's kube-proxy image built here: the kube-proxy from
// hack/build-bins.sh at /usr/local/bin/kube-proxy (where k0s's DaemonSet runs
// it) and Debian's iptables (nft backend, as k0s picks on a kernel ≥ 5 with
// no rules yet) with its libraries and extensions. ref is the name k0s.yaml
// points spec.images.kubeproxy at.
func KubeProxyImage(t testing.TB, ref string) ContainerImage {
	t.Helper()
	kp := Binary(t, "kube-proxy")
	const multi = "/usr/sbin/xtables-nft-multi"
	_, err := os.Stat(multi)
	Require(t, err == nil, multi+" not found (Debian package iptables)")
	files, err := HostExecutableFiles(multi)
	if err != nil {
		t.Fatalf("kube-proxy image: %v", err)
	}
	exts, _ := filepath.Glob("/usr/lib/*-linux-gnu/xtables/*.so")
	Require(t, len(exts) > 0, "iptables extensions not found in /usr/lib/<triplet>/xtables (Debian package libxtables12)")
	for _, e := range exts {
		files = append(files, ContainerFile{Path: e, Source: e})
	}
	for _, l := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		files = append(files, ContainerFile{Path: "/usr/sbin/" + l, Link: "xtables-nft-multi"})
	}
	files = append(files, ContainerFile{Path: "/usr/local/bin/kube-proxy", Source: kp})
	return ContainerImage{
		Ref:        ref,
		Files:      files,
		Entrypoint: []string{"/usr/local/bin/kube-proxy"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}

// BuildStaticBinary compiles the main package in pkgDir (a directory, for
// example testdata/testimage) with CGO_ENABLED=0 into the test's temp dir.
func BuildStaticBinary(t testing.TB, pkgDir string) string {
	t.Helper()
	_, err := exec.LookPath("go")
	Require(t, err == nil, "go command not found")
	out := filepath.Join(t.TempDir(), filepath.Base(pkgDir))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkgDir, err, b)
	}
	return out
}
