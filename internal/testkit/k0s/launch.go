package k0s

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/cgroup"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"
	"github.com/edgeimg/edgeimg/internal/testkit/kube"
	"github.com/edgeimg/edgeimg/internal/testkit/process"
)

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

// launch is one start of k0s, taken in steps (start runs them in order):
// the directories, the data dir's contents, the configurations, the
// network namespace, the cgroups, the process and the waits. Each step
// that creates something outside dir pushes its undo on cleanups, which
// Cluster.Stop runs in reverse.
type launch struct {
	logf    func(string, ...any)
	opts    Options
	bins    map[string]string
	cfgYAML string

	k        *Cluster
	dir      string // the temp dir: data, state, k0s.yaml, k0s.log
	state    string // private /etc, /var/log and /run of the mount namespace
	id       string
	cg       *cgroup.Group
	proc     *process.Process
	cleanups []func()
	once     sync.Once
}

func start(logf func(string, ...any), bins map[string]string, cfgYAML string, opts Options) (_ *Cluster, err error) {
	id := randHex(4)
	// Short: unix socket paths under it must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "edgeimg-k0s-")
	if err != nil {
		return nil, err
	}
	l := &launch{logf: logf, opts: opts, bins: bins, cfgYAML: cfgYAML, dir: dir, id: id,
		state: filepath.Join(dir, "state")}
	l.k = &Cluster{DataDir: filepath.Join(dir, "data"), NetNS: "edgeimg-" + id, Log: filepath.Join(dir, "k0s.log"), stop: l.stop}
	defer func() {
		if err != nil {
			// Keep the log for the error message; Stop runs in t.Cleanup.
			if b, rerr := os.ReadFile(l.k.Log); rerr == nil {
				err = fmt.Errorf("%w\n--- k0s.log (tail)\n%s", err, testkit.Tail(string(b), 60))
			}
		}
	}()
	for _, step := range []func() error{
		l.makeDirs,
		l.installBinaries,
		l.seedDataDir,
		l.writeCNIConfig,
		l.writeContainerdConfig,
		l.beforeStart,
		l.network,
		l.cgroups,
		l.run,
		l.waitReady,
	} {
		if err = step(); err != nil {
			return l.k, err
		}
	}
	return l.k, nil
}

// stop undoes the steps, newest first, and removes the temp dir; once.
func (l *launch) stop() {
	l.once.Do(func() {
		for i := len(l.cleanups) - 1; i >= 0; i-- {
			l.cleanups[i]()
		}
		if err := os.RemoveAll(l.dir); err != nil {
			l.logf("k0s: remove %s: %v", l.dir, err)
		}
	})
}

func (l *launch) makeDirs() error {
	for _, d := range []string{"data/bin", "data/images", "data/manifests", "data/cni/net.d", "data/cni/ipam",
		"state/etc.upper/k0s/containerd.d", "state/etc.work", "state/log.upper", "state/log.work", "state/run"} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// installBinaries links the binaries into <data-dir>/bin, or copies them
// under a memory limit (so the cluster is charged for their pages); k0s
// itself runs from the temp dir then, else from where it was built.
func (l *launch) installBinaries() error {
	for n, p := range l.bins {
		dst := filepath.Join(l.k.DataDir, "bin", n)
		switch {
		case l.opts.MemoryLimit > 0 && n == "k0s":
			dst = filepath.Join(l.dir, "k0s")
			fallthrough
		case l.opts.MemoryLimit > 0:
			if err := copyFile(p, dst); err != nil {
				return err
			}
			if err := os.Chmod(dst, 0o755); err != nil {
				return err
			}
			l.bins[n] = dst
		case n != "k0s":
			if err := os.Symlink(p, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// seedDataDir copies the image tars and writes the manifests.
func (l *launch) seedDataDir() error {
	for _, tarPath := range l.opts.ImageTars {
		if err := copyFile(tarPath, filepath.Join(l.k.DataDir, "images", filepath.Base(tarPath))); err != nil {
			return fmt.Errorf("image tar: %w", err)
		}
	}
	manifests := filepath.Join(l.k.DataDir, "manifests")
	for rel, data := range l.opts.Manifests {
		p := filepath.Join(manifests, filepath.FromSlash(rel))
		if !strings.HasPrefix(p, manifests+string(filepath.Separator)) {
			return fmt.Errorf("manifest path %q escapes the manifests dir", rel)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (l *launch) writeCNIConfig() error {
	ipam := filepath.Join(l.k.DataDir, "cni", "ipam")
	cni := bridgeCNIConfig(ipam)
	if l.opts.CNIConfig != "" {
		var err error
		if cni, err = privateIPAM(l.opts.CNIConfig, ipam); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(l.k.DataDir, "cni", "net.d", "10-edgeimg.conflist"), []byte(cni), 0o644)
}

// writeContainerdConfig writes the harness's containerd drop-in and the
// caller's into the private /etc/k0s/containerd.d, the harness's in the
// config version the containerd it runs reads (containerdDropIn).
func (l *launch) writeContainerdConfig() error {
	ctrdDir := filepath.Join(l.state, "etc.upper", "k0s", "containerd.d")
	major, err := ctrd.MajorVersion(filepath.Dir(l.bins["containerd"]))
	if err != nil {
		return err
	}
	ctrdConf, err := containerdDropIn(major, DebianCNIDir, filepath.Join(l.k.DataDir, "cni", "net.d"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ctrdDir, "00-edgeimg-testkit.toml"), []byte(ctrdConf), 0o644); err != nil {
		return err
	}
	for n, c := range l.opts.ContainerdConfig {
		if filepath.Base(n) != n || !strings.HasSuffix(n, ".toml") {
			return fmt.Errorf("containerd config %q: want a plain *.toml file name", n)
		}
		if err := os.WriteFile(filepath.Join(ctrdDir, n), []byte(c), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerdDropIn is the harness's /etc/k0s/containerd.d drop-in for a
// containerd release: restrict_oom_score_adj (lowering oom_score_adj below
// the parent's needs CAP_SYS_RESOURCE, which this sandbox has not) and the
// CNI directories. containerd 1.x reads config version 2, the CRI plugin
// being io.containerd.grpc.v1.cri; 2.x reads version 3, these settings
// belonging to io.containerd.cri.v1.runtime (and k0s 1.36 refuses a
// drop-in with the version 2 section).
func containerdDropIn(major int, cniBin, cniConf string) (string, error) {
	switch major {
	case 1:
		return fmt.Sprintf(`version = 2
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, cniBin, cniConf), nil
	case 2:
		return fmt.Sprintf(`version = 3
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
`, cniBin, cniConf), nil
	}
	return "", fmt.Errorf("containerd drop-in: no config version known for containerd %d.x", major)
}

// beforeStart runs the caller's hooks on the laid-out data dir, then, under
// a memory limit, drops the page cache of everything written so far.
func (l *launch) beforeStart() error {
	if l.opts.BeforeStart != nil {
		if err := l.opts.BeforeStart(l.k.DataDir); err != nil {
			return fmt.Errorf("before start: %w", err)
		}
	}
	if l.opts.ConfigFunc != nil {
		cfg, err := l.opts.ConfigFunc(l.k.DataDir)
		if err != nil {
			return fmt.Errorf("k0s config: %w", err)
		}
		l.cfgYAML = cfg
	}
	if l.opts.MemoryLimit > 0 {
		return dropPageCache(l.dir)
	}
	return nil
}

// network makes the network namespace with a veth to the test.
func (l *launch) network() error {
	hostIP, nsIP, err := pickVethSubnet()
	if err != nil {
		return err
	}
	k := l.k
	k.Address = nsIP.String()
	hostIf, peerIf := "ek"+l.id, "ekp"+l.id
	if err := runCmd("ip", "netns", "add", k.NetNS); err != nil {
		return err
	}
	l.cleanups = append(l.cleanups, func() { _ = runCmd("ip", "netns", "del", k.NetNS) })
	if err := runCmd("ip", "link", "add", hostIf, "type", "veth", "peer", "name", peerIf); err != nil {
		return err
	}
	l.cleanups = append(l.cleanups, func() { _ = runCmd("ip", "link", "del", hostIf) })
	for _, c := range [][]string{
		{"ip", "link", "set", peerIf, "netns", k.NetNS},
		{"ip", "addr", "add", hostIP.String() + "/30", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
	} {
		if err := runCmd(c[0], c[1:]...); err != nil {
			return err
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
		if err := runCmd("ip", append([]string{"-n", k.NetNS}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

// cgroups makes the cluster's cgroup, with the caller's limits.
func (l *launch) cgroups() error {
	cg, err := cgroup.New("edgeimg-k0s-" + l.id)
	if err != nil {
		return err
	}
	l.cg = cg
	l.k.CgroupDirs = append([]string(nil), cg.Dirs...)
	l.cleanups = append(l.cleanups, func() {
		if err := cg.KillAndRemove(30 * time.Second); err != nil {
			l.logf("k0s: cgroups: %v", err)
		}
	})
	return cg.Limit(l.opts.CPUMilli, l.opts.MemoryLimit)
}

// run writes k0s.yaml and starts k0s through unshare, nsenter and
// k0sLaunch.
func (l *launch) run() error {
	k := l.k
	cfgPath := filepath.Join(l.dir, "k0s.yaml")
	cfg, err := k0sConfigFor(l.cfgYAML, k.Address)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	kubeletArgs := append([]string{
		"--cgroup-root=" + l.cg.Root,
		"--runtime-cgroups=" + l.cg.Root + "/runtime",
	}, l.opts.KubeletExtraArgs...)
	args := append([]string{
		"-m", "--propagation", "slave", "nsenter", "--net=/run/netns/" + k.NetNS, "--",
		"/bin/sh", "-c", k0sLaunch, "k0s-launch", l.state,
	}, envArgs(l.opts.Env)...)
	args = append(args, l.bins["k0s"], "controller", "--single",
		"--data-dir="+k.DataDir,
		"--config="+cfgPath,
		"--kubelet-extra-args="+strings.Join(kubeletArgs, " "))
	args = append(args, l.opts.ExtraArgs...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "K0S_CGROUP_PROCS="+strings.Join(l.cg.ProcsFiles("k0s"), " "))
	k.Start = time.Now()
	p, err := process.StartCommand(k.Log, cmd)
	if err != nil {
		return err
	}
	l.proc = p
	l.cleanups = append(l.cleanups, func() {
		// k0s stops its components on SIGTERM; the cgroup sweep that runs
		// next kills whatever is left (shims, containers).
		p.Stop(45 * time.Second)
	})
	return nil
}

// waitReady waits for the admin kubeconfig, the apiserver's /readyz and the
// node, within opts.Timeout, and writes the test's kubeconfig.
func (l *launch) waitReady() error {
	k, p := l.k, l.proc
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	k.ContainerdSocket = filepath.Join(l.state, "run", "k0s", "containerd.sock")
	admin := filepath.Join(k.DataDir, "pki", "admin.conf")
	if err := waitFile(ctx, admin, p); err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	rc.Host = "https://" + net.JoinHostPort(k.Address, "6443")
	rc.QPS, rc.Burst = 100, 200
	k.Config = rc
	k.Kubeconfig = filepath.Join(l.dir, "kubeconfig")
	if err := kube.WriteKubeconfig(k.Kubeconfig, rc); err != nil {
		return err
	}
	if err := kube.WaitReadyz(ctx, rc, p); err != nil {
		return err
	}
	k.APIServerReady = time.Since(k.Start)
	if err := waitNodeReady(ctx, rc, p); err != nil {
		return err
	}
	k.NodeReady = time.Since(k.Start)
	return nil
}

func waitFile(ctx context.Context, path string, p *process.Process) error {
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

func waitNodeReady(ctx context.Context, cfg *rest.Config, p *process.Process) error {
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
