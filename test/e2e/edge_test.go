//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/cgroup"
	"github.com/edgeimg/edgeimg/internal/testkit/edgestack"
	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/internal/testkit/process"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// autoscalerWindows shortens Knative's scale-to-zero in the test's
// config-autoscaler (Knative's minimum for both): a Revision without
// traffic goes to zero ~12 s after it is Ready instead of ~90 s.
var autoscalerWindows = map[string]string{
	"stable-window":              "6s",
	"scale-to-zero-grace-period": "6s",
}

// edgeOptions say how the images reach the node.
type edgeOptions struct {
	// bundle puts the images into <data-dir>/images as one OCI-layout tar
	// (k0s imports it at start) instead of preloading containerd's store.
	bundle bool
	// planNode caps the whole cluster at the plan's node: its CPUs as a
	// CFS quota, its memory as a hard cgroup limit (page cache included).
	planNode bool
	// cpuMilli and memoryLimit, when positive, cap the whole cluster
	// (a CFS quota, a hard memory limit) without planNode.
	cpuMilli, memoryLimit int64
	// spec, when set, changes the test's spec before it is rendered.
	spec func(*spec.Document) error
	// deploy puts the payload on the node as edgeimg deploy does: over
	// SSH (a real sshd on loopback), the images as a bundle tar.
	deploy bool
}

// edge is a running k0s node with the rendered stack.
type edge struct {
	k         *k0s.Cluster
	r         *render.Result
	images    []airgap.Image
	opts      edgeOptions
	stagedDir string
	// promoterScript is the payload's promote-staged on this machine.
	promoterScript string
	// deployed is the first deploy's result, deployHost and deployOpts
	// what it ran with (opts.deploy).
	deployed   deploy.Result
	deployHost deploy.Host
	deployOpts deploy.Options
	// contentBefore are the blobs in containerd's content store before k0s
	// started.
	contentBefore []string
	promoter      *process.Process
	promoterLog   string
}

// startEdge builds and pushes the images, renders the spec with the
// images mapped to them, pulls, pins and preloads (or bundles) them, lays
// the stacks into <data-dir>/manifests and the staged stacks into a staged
// dir, starts k0s with the rendered k0s.yaml and then the promoter, as the
// node's systemd would.
func startEdge(t testing.TB, opts edgeOptions) *edge {
	t.Helper()
	ctx := context.Background()
	fixtures := testkit.FixturesDir(t)
	reg := regtest.Start(t)
	local := edgestack.Push(t, reg, edgestack.Images(t))

	doc, err := spec.Parse("e2e spec", []byte(edgestack.SpecYAML))
	if err != nil {
		t.Fatal(err)
	}
	line, err := k0s.CurrentLine()
	if err != nil {
		t.Fatal(err)
	}
	if err := lineSpec(doc, line, cgroup.V2()); err != nil {
		t.Fatalf("spec for k0s line %s: %v", line.Name, err)
	}
	t.Logf("k0s line %s: spec.k0s.version %s, Kubernetes %s, containerd %s", line.Name, line.K0sVersion, line.Kubernetes, line.Containerd)
	if opts.spec != nil {
		if err := opts.spec(doc); err != nil {
			t.Fatalf("spec: %v", err)
		}
	}
	// A first rendering finds the upstream references to map.
	first := edgestack.MapImages(ctx, t, doc, fixtures, reg, local)
	conflist := first.K0s.ExtraFiles()
	if len(conflist) != 1 {
		t.Fatalf("k0s config for network bridge: %d extra files, want the CNI conflist", len(conflist))
	}

	work := t.TempDir()
	e := &edge{opts: opts, stagedDir: filepath.Join(work, "staged"), promoterScript: filepath.Join(work, "promote-staged")}
	var k0sYAML string
	prepare := func(dataDir string) error {
		r, err := render.NodeConfig(ctx, doc, render.Options{Upstream: fixtures, DataDir: dataDir})
		if err != nil {
			return fmt.Errorf("render: %w", err)
		}
		e.r = r
		if err := setConfigMap(r.Bundle, "knative-serving", "config-autoscaler", autoscalerWindows); err != nil {
			return err
		}
		refs, warnings := airgap.Find(r.Bundle.Objects(), doc.Spec.Images.Extra, r.K0s.SystemImages())
		for _, w := range warnings {
			t.Logf("images: warning: %s", w)
		}
		ch, err := cache.New(t.TempDir())
		if err != nil {
			return err
		}
		store := airgap.NewStore(ch)
		aopt := airgap.OptionsFromSpec(doc.Spec.Images, "linux/"+runtime.GOARCH)
		start := time.Now()
		res, err := airgap.Pull(ctx, store, refs, aopt)
		if err != nil {
			return err
		}
		t.Logf("pulled %d images (%d blobs, %.1f MiB) in %s", len(res.Images), res.Fetched,
			float64(res.FetchedBytes)/(1<<20), time.Since(start).Round(time.Millisecond))
		e.images = res.Images
		if err := airgap.Pin(r.Bundle.Objects(), res.Images); err != nil {
			return err
		}
		pinned := airgap.PinnedRefs(res.Images)
		for _, ref := range r.K0s.SystemImages() {
			if _, ok := pinned[ref]; !ok {
				return fmt.Errorf("k0s system image %s was not pulled", ref)
			}
		}
		if err := r.K0s.RewriteImages(func(ref string) (string, error) {
			if p, ok := pinned[ref]; ok {
				return p, nil
			}
			return ref, nil // images of components that do not run
		}); err != nil {
			return err
		}
		start = time.Now()
		switch {
		case opts.deploy:
			if err := e.deployPayload(ctx, t, dataDir, store, res.Images); err != nil {
				return fmt.Errorf("deploy: %w", err)
			}
			t.Logf("deployed the payload over SSH in %s", time.Since(start).Round(time.Millisecond))
		case opts.bundle:
			tar := filepath.Join(dataDir, "images", "edgeimg-images.tar")
			if err := store.WriteBundleFile(tar, res.Images, false); err != nil {
				return err
			}
			t.Logf("wrote the images bundle %s in %s", tar, time.Since(start).Round(time.Millisecond))
		default:
			if err := store.Preload(ctx, filepath.Join(dataDir, "containerd"), res.Images, airgap.PreloadOptions{}); err != nil {
				return err
			}
			t.Logf("preloaded %s in %s", filepath.Join(dataDir, "containerd"), time.Since(start).Round(time.Millisecond))
		}
		if e.contentBefore, err = contentBlobs(dataDir); err != nil {
			return err
		}
		if !opts.deploy {
			if err := e.layOut(dataDir); err != nil {
				return err
			}
		}
		y, err := r.K0s.YAML()
		k0sYAML = string(y)
		return err
	}

	reserved := kubeReserved(t, first)
	cpu, memLimit := opts.cpuMilli, opts.memoryLimit
	if opts.planNode {
		cpu, memLimit = first.Plan.Node.CPUMilli, first.Plan.Node.MemoryBytes
	}
	if cpu > 0 || memLimit > 0 {
		t.Logf("the whole cluster capped at %dm CPU (CFS quota) and %d MiB (memory limit; 0: none)", cpu, memLimit>>20)
	}
	e.k = k0s.Start(t, k0s.Options{
		CPUMilli:    cpu,
		MemoryLimit: memLimit,
		BeforeStart: prepare,
		ConfigFunc:  func(string) (string, error) { return k0sYAML, nil },
		CNIConfig:   string(conflist[0].Data),
		// The plan's node is smaller than this machine: reserve the
		// difference so the node's allocatable is the plan's. The node's
		// disk is this machine's, shared with everything else on it: the
		// rendered disk thresholds (nodefs 10%, imagefs 15% free) would
		// evict pods whenever the machine's disk is 85% full, so they are
		// absolute here; memory.available stays the plan's.
		KubeletExtraArgs: []string{"--kube-reserved=" + reserved, evictionHard(first)},
		// What the unit gives k0s besides --single, --config and
		// --data-dir, which the harness sets; and the host workaround.
		ExtraArgs: append(disableFlag(first), lineArgs(line, cgroup.V2())...),
		Env:       first.K0s.Env,
		Timeout:   5 * time.Minute,
	})
	t.Logf("kubelet --kube-reserved=%s (this machine minus the plan's %dm / %d MiB node)",
		reserved, first.Plan.Node.CPUMilli, first.Plan.Node.MemoryBytes>>20)
	e.startPromoter(t)
	return e
}

// lineSpec makes the test's spec the k0s line's: spec.k0s.version is the
// line's release (the binaries run are that line's), and on a cgroup v1
// host a line whose kubelet refuses cgroup v1 (1.35 on) gets
// failCgroupV1: false in the default worker profile. That opt-out is a
// workaround for this host only (the machines the tests run on here are
// cgroup v1; devices run trixie's systemd, cgroup v2 only): the product
// keeps upstream's default.
func lineSpec(doc *spec.Document, line k0s.Line, cgroupV2 bool) error {
	doc.Spec.K0s.Version = line.K0sVersion
	doc.Spec.Knative.KubernetesMinVersion = line.KnativeMin()
	if !line.RefusesCgroupV1 || cgroupV2 {
		return nil
	}
	if doc.Spec.K0s.Config == nil {
		doc.Spec.K0s.Config = map[string]any{}
	}
	sp, ok := doc.Spec.K0s.Config["spec"].(map[string]any)
	if !ok {
		if doc.Spec.K0s.Config["spec"] != nil {
			return fmt.Errorf("spec.k0s.config.spec is %T, want a mapping", doc.Spec.K0s.Config["spec"])
		}
		sp = map[string]any{}
		doc.Spec.K0s.Config["spec"] = sp
	}
	if sp["workerProfiles"] != nil {
		return fmt.Errorf("spec.k0s.config.spec.workerProfiles is set already: the host workaround would replace it")
	}
	sp["workerProfiles"] = []any{map[string]any{
		"name":   "default",
		"values": map[string]any{"failCgroupV1": false},
	}}
	return doc.Validate()
}

// lineArgs are the k0s flags a line needs on this host: k0s 1.36's own
// pre-flight check rejects a cgroup v1 host ("cgroup v1 is not
// supported"), whatever the kubelet's failCgroupV1, so on a cgroup v1 host
// such a line runs with --ignore-pre-flight-checks (k0s still logs every
// check). A workaround for this host, like lineSpec's.
func lineArgs(line k0s.Line, cgroupV2 bool) []string {
	if !line.RefusesCgroupV1 || cgroupV2 {
		return nil
	}
	return []string{"--ignore-pre-flight-checks"}
}

// disableFlag is k0s's --disable-components for the rendered config, as
// its unit and install flags have it.
func disableFlag(r *render.Result) []string {
	if len(r.K0s.DisabledComponents) == 0 {
		return nil
	}
	return []string{"--disable-components=" + strings.Join(r.K0s.DisabledComponents, ",")}
}

// setConfigMap sets data keys of a ConfigMap of the bundle.
func setConfigMap(b *bundle.Bundle, ns, name string, data map[string]string) error {
	for _, o := range b.Objects() {
		if o.Obj.GetKind() == "ConfigMap" && o.Obj.GetNamespace() == ns && o.Obj.GetName() == name {
			for k, v := range data {
				if err := unstructured.SetNestedField(o.Obj.Object, v, "data", k); err != nil {
					return fmt.Errorf("ConfigMap %s/%s: %w", ns, name, err)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("ConfigMap %s/%s is not in the bundle", ns, name)
}

// deployPayload puts the bundle's payload (stacks, staged stacks, the
// promoter) and the images bundle tar on the node with pkg/deploy, as
// edgeimg deploy does, over a real sshd on loopback: upload-only, the
// node's root being k0s's directory here, so its data dir is /data.
func (e *edge) deployPayload(ctx context.Context, t testing.TB, dataDir string, store *airgap.Store, images []airgap.Image) error {
	root := filepath.Dir(dataDir)
	nodeData := "/" + filepath.Base(dataDir)
	const nodeStaged = "/staged"
	e.stagedDir = filepath.Join(root, nodeStaged)
	e.promoterScript = filepath.Join(root, bundle.PromoterPath)
	p, err := e.r.Bundle.Payload(bundle.Layout{DataDir: nodeData, StagedDir: nodeStaged})
	if err != nil {
		return err
	}
	tarPath := filepath.Join(t.TempDir(), "edgeimg-images.tar")
	if err := store.WriteBundleFile(tarPath, images, false); err != nil {
		return err
	}
	p.AddFile(path.Join(nodeData, "images", "edgeimg-images.tar"), 0o644, tarPath)
	if err := p.Seal(); err != nil {
		return err
	}
	s := sshd.Start(t, sshd.Options{})
	e.deployHost = deploy.Host{Address: s.Addr, Port: s.Port, User: s.User, KeyPath: s.ClientKey}
	e.deployOpts = deploy.Options{
		Payload:    p,
		Root:       root,
		UploadOnly: true,
		DataDir:    nodeData,
		StagedDir:  nodeStaged,
		Arch:       runtime.GOARCH,
		KnownHosts: s.KnownHosts,
		Log:        testLog{t},
	}
	res, err := deploy.Deploy(ctx, []deploy.Host{e.deployHost}, e.deployOpts)
	if err != nil {
		return err
	}
	e.deployed = res[0]
	return nil
}

// testLog writes each line to the test's log.
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// layOut writes the payload's stacks into <data-dir>/manifests and its
// staged stacks into the staged dir, as the image step lays them out.
func (e *edge) layOut(dataDir string) error {
	p, err := e.r.Bundle.Payload(bundle.Layout{DataDir: dataDir, StagedDir: e.stagedDir})
	if err != nil {
		return err
	}
	manifests := filepath.Join(dataDir, "manifests") + string(filepath.Separator)
	var wrote int
	for _, f := range p.Files {
		var dst string
		switch {
		case strings.HasPrefix(f.Path, manifests), strings.HasPrefix(f.Path, e.stagedDir+string(filepath.Separator)):
			dst = f.Path
		case f.Path == bundle.PromoterPath:
			dst = e.promoterScript
		default:
			continue // the promoter's systemd unit
		}
		if err := fsutil.WriteWith(dst, f.Mode, func(w io.Writer) error {
			in, err := f.Open()
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(w, in)
			return err
		}); err != nil {
			return err
		}
		wrote++
	}
	if wrote == 0 {
		return fmt.Errorf("payload: no stack files under %s", manifests)
	}
	return nil
}

// startPromoter runs the payload's promoter as the node's
// edgeimg-promote.service would, pointed at this node's data dir, staged
// dir, k0s binary and an admin kubeconfig.
func (e *edge) startPromoter(t testing.TB) {
	t.Helper()
	e.promoterLog = filepath.Join(t.TempDir(), "promote-staged.log")
	cmd := exec.Command("/bin/sh", e.promoterScript)
	cmd.Env = append(os.Environ(),
		"K0S_DATA_DIR="+e.k.DataDir,
		"EDGEIMG_STAGED_DIR="+e.stagedDir,
		"EDGEIMG_K0S="+testkit.Binary(t, "k0s"),
		"EDGEIMG_KUBECONFIG="+e.k.Kubeconfig,
		"EDGEIMG_PROMOTE_TIMEOUT=900",
		"EDGEIMG_PROMOTE_INTERVAL=2",
		"EDGEIMG_PROMOTE_RETOUCH=10",
	)
	p, err := process.StartCommand(e.promoterLog, cmd)
	if err != nil {
		t.Fatal(err)
	}
	e.promoter = p
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			b, _ := os.ReadFile(e.promoterLog)
			t.Logf("--- promote-staged log\n%s", testkit.Tail(string(b), 40))
		}
	})
}

// waitPromoter waits for the promoter to exit and requires success.
func (e *edge) waitPromoter(ctx context.Context, t testing.TB) {
	t.Helper()
	for !e.promoter.Exited() {
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(e.promoterLog)
			t.Fatalf("promote-staged still running: %v\n%s", ctx.Err(), testkit.Tail(string(b), 30))
		case <-time.After(time.Second):
		}
	}
	b, _ := os.ReadFile(e.promoterLog)
	if err := e.promoter.Err(); err != nil {
		t.Fatalf("promote-staged: %v\n%s", err, testkit.Tail(string(b), 30))
	}
	for _, s := range e.r.Bundle.Staged {
		if !strings.Contains(string(b), "promote-staged: "+s.Name+": applied") {
			t.Errorf("promote-staged log does not report %s applied:\n%s", s.Name, b)
		}
	}
	t.Logf("promote-staged exited 0:\n%s", strings.TrimSpace(string(b)))
}

// contentBlobs lists the blobs of containerd's content store under the
// data dir (none when it does not exist yet).
func contentBlobs(dataDir string) ([]string, error) {
	dir := filepath.Join(dataDir, "containerd", "io.containerd.content.v1.content", "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// kubeReserved is the kubelet --kube-reserved that makes this machine's
// allocatable equal the plan's: its CPUs and memory minus the plan's node
// (the plan's own reservations are the k0s.yaml's systemReserved and
// evictionHard).
func kubeReserved(t testing.TB, r *render.Result) string {
	t.Helper()
	memTotal, err := memTotalBytes()
	if err != nil {
		t.Fatal(err)
	}
	cpu := int64(runtime.NumCPU())*1000 - r.Plan.Node.CPUMilli
	mem := memTotal - r.Plan.Node.MemoryBytes
	testkit.Require(t, cpu >= 0 && mem >= 0, fmt.Sprintf("this machine (%d CPUs, %d MiB) is smaller than the plan's node", runtime.NumCPU(), memTotal>>20))
	return fmt.Sprintf("cpu=%dm,memory=%d", cpu, mem)
}

// evictionHard is the kubelet flag with the plan's memory threshold and
// absolute disk thresholds.
func evictionHard(r *render.Result) string {
	return fmt.Sprintf("--eviction-hard=memory.available<%d,nodefs.available<2Gi,imagefs.available<2Gi,nodefs.inodesFree<5%%,imagefs.inodesFree<5%%",
		r.Plan.Node.EvictionHardBytes)
}

// memTotalBytes is MemTotal of /proc/meminfo, which the kubelet reports as
// the node's memory capacity.
func memTotalBytes() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemTotal")
}
