//go:build e2evm

package e2evm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/k0sproject/rig"
	"golang.org/x/crypto/ssh"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/edgestack"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// The host's own files, written before the first deploy: --reset must
// leave them as they are (one in a directory deploy also writes to).
var hostOwnFiles = []string{"/etc/k0s/keep.conf", "/root/mine"}

// TestDeployOnHost boots an OS-only image (`edgeimg build --os-only`: SSH
// on with the test's key, Debian's CNI plugins for network bridge, no
// k0s) as a systemd host, 1 vCPU, 1536 MiB, no route out, and runs the
// library path of `edgeimg deploy` (prepare.NewDeployPayload,
// deploy.OptionsFromSpec, deploy.Deploy) against it over the forwarded SSH
// port, the host key checked against a known_hosts file written from the
// key the host generated at its first boot. The spec is the end-to-end
// spec with the images built here. It checks:
//
//   - a deploy cancelled in the middle of the largest file, then one that
//     resumes it and completes: k0s installed by 'k0s install controller'
//     with the spec's flags and env, active as a systemd service, the API
//     ready on the forwarded port, the node Ready this boot, every payload
//     file on the host with its sha256;
//   - the same spec again, from a new payload: nothing sent, k0s not
//     restarted (same MainPID and ActiveEnterTimestamp);
//   - a changed spec (the hello service's env): only its manifest sent,
//     k0s not restarted;
//   - --reset: k0s's service, binary and data dir gone, the host's own
//     files untouched.
//
// Under TCG the stacks' pods do not all get ready within a test run (as
// TestDevice's workload checks): the wait phase then runs with a short
// bound and its timeout is accepted when it names only stacks and pods,
// not the node. With KVM or EDGEIMG_E2EVM_WORKLOADS=1 every deploy must
// succeed.
//
// The k0s of hack/build-bins.sh has no embedded binaries (noembedbins):
// the deploy payload carries them in <data-dir>/bin (nodeBinaries), as
// the image of TestDevice does.
func TestDeployOnHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 85*time.Minute)
	defer cancel()
	testkit.Require(t, runtime.GOARCH == "amd64", "the deploy test boots an x86_64 image on amd64")
	h := &hostRun{t: t, workloads: workloadsWanted(t)}
	h.key, h.signer = writeLoginKey(t)

	// The target: an OS-only image booted as a host.
	raw := h.buildHost(ctx)
	h.boot(ctx, raw)
	for _, f := range hostOwnFiles {
		h.vm.Run(fmt.Sprintf("mkdir -p %s && echo 'the host own %s' > %s", path.Dir(f), path.Base(f), f))
	}
	own := h.vm.Run("sha256sum " + strings.Join(hostOwnFiles, " "))
	cniBefore := h.vm.Run("ls -l /usr/lib/cni | sha256sum")

	// The spec and the payload, as `edgeimg deploy` renders them.
	doc := h.spec(ctx)
	dp := h.payload(ctx, doc)

	// 1. A deploy cancelled while it sends the largest file.
	big := largest(dp.Payload)
	cctx, stop := context.WithCancel(ctx)
	o := h.options(doc, dp, time.Minute)
	o.Progress = func(p deploy.Progress) {
		if p.Path == big.Path && p.Sent >= big.Size/3 {
			stop()
		}
	}
	start := time.Now()
	res, err := deploy.Deploy(cctx, []deploy.Host{h.host()}, o)
	stop()
	if err == nil || !errors.Is(res[0].Err, context.Canceled) {
		t.Fatalf("deploy cancelled during %s: %v", big.Path, err)
	}
	part := h.vm.Run("stat -c %s " + big.Path + deploy.PartSuffix + " 2>&1 || true")
	t.Logf("deploy cancelled %s after it began, %d bytes sent, %s: %s bytes on the host", since(start), res[0].BytesSent, big.Path+deploy.PartSuffix, part)
	if n := h.vm.Run("test -e " + k0spath.UnitPath + " && echo installed || echo none"); n != "none" {
		t.Fatalf("k0s service after a deploy cancelled during the upload: %s", n)
	}

	// 2. The deploy that resumes and completes.
	r := h.deploy(ctx, "first deploy (resumes)", doc, dp, h.firstWait())
	if r.FilesResumed < 1 || r.BytesSent >= totalSize(dp.Payload) || r.FilesSent+r.FilesResumed+r.FilesUnchanged != len(dp.Payload.Files) {
		t.Errorf("first deploy after the cancelled one: %+v, want the large file resumed and every one of %d files accounted for", r, len(dp.Payload.Files))
	}
	h.checkService(dp)
	d := &device{t: t, vm: h.vm, times: map[string]time.Duration{}, last: map[string]time.Duration{}, boots: 1}
	d.measureClock()
	c := d.waitAPI(ctx)
	d.waitNode(ctx, c)
	h.checkFiles(dp.Payload)
	t.Logf("first deploy: %s", h.milestones(d))
	before := h.k0sProcess()

	// 3. The same spec again, from a payload rendered anew.
	dp2 := h.payload(ctx, doc)
	r = h.deploy(ctx, "same spec again", doc, dp2, h.laterWait())
	if r.FilesSent != 0 || r.FilesResumed != 0 || r.BytesSent != 0 || r.FilesUnchanged != len(dp2.Payload.Files) {
		t.Errorf("deploying the same spec again: %+v, want nothing sent and %d files unchanged", r, len(dp2.Payload.Files))
	}
	if now := h.k0sProcess(); now != before {
		t.Errorf("deploying the same spec again restarted k0s: %q, before %q", now, before)
	}

	// 4. A changed spec: one manifest, not k0s.yaml.
	doc.Spec.Services[0].Env["TARGET"] = "edgeimg, changed"
	dp3 := h.payload(ctx, doc)
	changed := diff(dp2.Payload, dp3.Payload)
	if len(changed) != 1 || changed[0] == k0spath.Config {
		t.Errorf("changing the hello service's env changed %v in the payload, want one manifest", changed)
	}
	t.Logf("the changed spec changes %v", changed)
	r = h.deploy(ctx, "changed spec", doc, dp3, h.laterWait())
	if r.FilesSent != len(changed) || r.FilesResumed != 0 || r.FilesUnchanged != len(dp3.Payload.Files)-len(changed) {
		t.Errorf("deploying a changed spec: %+v, want only %v sent", r, changed)
	}
	h.checkFiles(dp3.Payload)
	if now := h.k0sProcess(); now != before {
		t.Errorf("deploying a changed manifest restarted k0s: %q, before %q", now, before)
	}
	t.Logf("k0s ran on, pid and start time %s", before)

	// 5. --reset: k0s and what deploy uploaded gone, the host's own files kept.
	ro, err := deploy.OptionsFromSpec(doc, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ro.KnownHosts, ro.Log = h.knownHosts, h.logw
	start = time.Now()
	if _, err := deploy.Reset(ctx, []deploy.Host{h.host()}, ro); err != nil {
		t.Fatalf("reset: %v", err)
	}
	t.Logf("reset took %s", since(start))
	if out := h.vm.Run("systemctl is-active " + k0spath.UnitName + " || true"); out == "active" {
		t.Errorf("%s still active after the reset", k0spath.UnitName)
	}
	gone := []string{k0spath.UnitPath, k0spath.Binary, k0spath.DataDir, k0spath.Config, deploy.RecordPath}
	for _, l := range dp3.Payload.Links {
		gone = append(gone, l.Path)
	}
	for _, p := range gone {
		if out := h.vm.Run("test -e " + p + " -o -L " + p + " && echo present || echo gone"); out != "gone" {
			t.Errorf("%s after the reset: %s", p, out)
		}
	}
	if got := h.vm.Run("sha256sum " + strings.Join(hostOwnFiles, " ")); got != own {
		t.Errorf("the host's own files after the reset:\n%s\nwant\n%s", got, own)
	}
	if got := h.vm.Run("ls -l /usr/lib/cni | sha256sum"); got != cniBefore {
		t.Errorf("/usr/lib/cni (the host's package) changed by deploy and reset")
	}
}

// hostRun is the host VM and what the deploys to it share.
type hostRun struct {
	t          *testing.T
	vm         *qemu.Booted
	key        string
	signer     ssh.Signer
	knownHosts string
	logw       *stampLog
	workloads  bool
	bins       map[string]string
}

// firstWait and laterWait bound the deploy's wait phase: under TCG (no
// workloads) the stacks' pods are not all ready within a test run.
func (h *hostRun) firstWait() time.Duration {
	if h.workloads {
		return 45 * time.Minute
	}
	return 3 * time.Minute
}

func (h *hostRun) laterWait() time.Duration {
	if h.workloads {
		return 15 * time.Minute
	}
	return time.Minute
}

// buildHost builds the OS-only image, as `edgeimg build --os-only`: no
// payload source, SSH on with the test's key, Debian's CNI plugins
// installed for network bridge; the raw image gets room for k0s.
func (h *hostRun) buildHost(ctx context.Context) string {
	t := h.t
	doc, err := spec.Parse("deploy host spec", []byte(edgestack.SpecYAML))
	if err != nil {
		t.Fatal(err)
	}
	doc.Metadata.Name = "deployhost"
	doc.Spec.Board = board
	doc.Spec.SSH.Enabled = true
	doc.Spec.SSH.AuthorizedKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.signer.PublicKey()))) + " edgeimg-e2evm-deploy"}
	doc.Spec.OS.Packages = append(doc.Spec.OS.Packages, "containernetworking-plugins")
	doc.Spec.Output.Formats = []string{"raw"}
	if doc.Spec.OS.Mirror == "" || os.Getenv("EDGEIMG_TEST_MIRROR") != "" {
		doc.Spec.OS.Mirror = imagebuild.Mirror()
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("host spec: %v", err)
	}
	out := t.TempDir()
	b, err := image.NewBuilder(image.Options{Spec: doc, OutDir: out, Cache: imagebuild.Cache(t), Status: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := b.Build(ctx)
	if err != nil {
		t.Fatalf("build --os-only: %v", err)
	}
	var raw string
	for _, o := range res.Outputs {
		if o.Format == "raw" {
			raw = filepath.Join(out, o.File)
			imagebuild.ResizeRaw(t, raw, o.Size+4<<30)
		}
	}
	if raw == "" {
		t.Fatalf("outputs %+v: no raw image", res.Outputs)
	}
	t.Logf("built the OS-only host image %s in %s", filepath.Base(raw), since(start))
	return raw
}

// boot powers the host on and writes the known_hosts file deploy checks
// the host's key against: the ed25519 key the host generated at its first
// boot, read over the console-equivalent test session, as a careful user
// reads it before trusting it (deploy's accept-new stays off).
func (h *hostRun) boot(ctx context.Context, raw string) {
	t := h.t
	bctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	h.vm = qemu.Boot(bctx, t, qemu.Config{Arch: "amd64", Disk: raw, MemoryMiB: 1536, CPUs: 1, Restrict: true, Forward: []int{apiPort}},
		map[string]*regexp.Regexp{"multi-user": bootMilestones["multi-user"]}, "root", ssh.PublicKeys(h.signer))
	h.logw = &stampLog{t: t, start: h.vm.VM.Started}
	// As `edgeimg deploy` does: rig's own log through deploy's, without
	// its debug lines (every command it runs).
	rig.SetLogger(deploy.RigLogger(h.logw, false))
	t.Logf("host VM (%s, 1 vCPU, 1536 MiB, user-net restrict=on): multi-user.target %s after power-on", qemu.Accel(), fmtDur(h.vm.Milestones["multi-user"]))
	t.Cleanup(func() {
		if t.Failed() {
			out, err := qemu.SSHRun(h.vm.Client, "systemctl status --no-pager "+k0spath.UnitName+"; journalctl -u "+k0spath.UnitName+" --no-pager -o short-monotonic | tail -n 80")
			t.Logf("--- %s (err %v)\n%s", k0spath.UnitName, err, out)
		}
	})
	var kh strings.Builder
	for _, pub := range strings.Split(h.vm.Run("cat /etc/ssh/ssh_host_*_key.pub"), "\n") {
		f := strings.Fields(pub)
		if len(f) < 2 {
			t.Fatalf("host key %q", pub)
		}
		fmt.Fprintf(&kh, "[127.0.0.1]:%d %s %s\n", h.vm.VM.SSHPort, f[0], f[1])
	}
	h.knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if err := writeFile(h.knownHosts, kh.String(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h *hostRun) host() deploy.Host {
	return deploy.Host{Address: "127.0.0.1", Port: h.vm.VM.SSHPort, User: "root", KeyPath: h.key}
}

// spec is the end-to-end spec with the images built here and the k0s of
// make e2ebins.
func (h *hostRun) spec(ctx context.Context) *spec.Document {
	t := h.t
	fixtures := testkit.FixturesDir(t)
	h.bins = k0s.Binaries(t)
	reg := regtest.Start(t)
	local := edgestack.Push(t, reg, edgestack.Images(t))
	doc, err := spec.Parse("e2evm deploy spec", []byte(edgestack.SpecYAML))
	if err != nil {
		t.Fatal(err)
	}
	doc.Metadata.Name = "e2evm-deploy"
	line, err := k0s.CurrentLine()
	if err != nil {
		t.Fatal(err)
	}
	doc.Spec.K0s.Version = line.K0sVersion
	doc.Spec.Knative.KubernetesMinVersion = line.KnativeMin()
	doc.Spec.Board = board
	doc.Spec.Upstream = fixtures
	doc.Spec.K0s.Binary = h.bins["k0s"]
	edgestack.MapImages(ctx, t, doc, fixtures, reg, local)
	return doc
}

// payload renders the deploy payload as `edgeimg deploy` does, plus the
// binaries a release k0s carries inside it (nodeBinaries).
func (h *hostRun) payload(ctx context.Context, doc *spec.Document) *prepare.DeployPayload {
	t := h.t
	target, err := prepare.ResolveTarget(doc, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dp, err := prepare.NewDeployPayload(ctx, doc, prepare.Options{Cache: imagebuild.Cache(t), Target: target})
	if err != nil {
		t.Fatalf("deploy payload: %v", err)
	}
	files := nodeBinaries(t, h.bins)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dp.Payload.AddFile(n, 0o755, files[n])
	}
	if err := dp.Payload.Seal(); err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy payload: %d files, %d MiB, install flags %q, rendered in %s (with %d node binaries of the noembedbins k0s)",
		len(dp.Payload.Files), totalSize(dp.Payload)>>20, dp.InstallFlags, since(start), len(names))
	return dp
}

// options are the options `edgeimg deploy` sets, with the wait bounded.
func (h *hostRun) options(doc *spec.Document, dp *prepare.DeployPayload, wait time.Duration) deploy.Options {
	o, err := deploy.OptionsFromSpec(doc, "amd64")
	if err != nil {
		h.t.Fatal(err)
	}
	o.Payload, o.InstallArgs, o.DataDir, o.AllowCgroupV1 = dp.Payload, dp.InstallFlags, dp.DataDir, dp.AllowCgroupV1
	o.KnownHosts, o.Log, o.Debug = h.knownHosts, h.logw, true
	o.Timeout = wait
	return o
}

// nodeNotReady matches the wait phase's problems about the node.
var nodeNotReady = regexp.MustCompile(`node \S+ not Ready|no node registered yet`)

// deploy runs one deploy and returns its result. Without the workload
// checks, a timeout of the wait phase is accepted (the stacks' pods under
// TCG) unless the node was Ready before and the wait names it.
func (h *hostRun) deploy(ctx context.Context, what string, doc *spec.Document, dp *prepare.DeployPayload, wait time.Duration) deploy.Result {
	t := h.t
	start := time.Now()
	h.logw.Printf("--- %s", what)
	res, err := deploy.Deploy(ctx, []deploy.Host{h.host()}, h.options(doc, dp, wait))
	if len(res) != 1 {
		t.Fatalf("%s: %d results (%v)", what, len(res), err)
	}
	r := res[0]
	t.Logf("%s: %s; %d files sent, %d resumed, %d unchanged, %d bytes sent", what, since(start), r.FilesSent, r.FilesResumed, r.FilesUnchanged, r.BytesSent)
	if err == nil {
		return r
	}
	msg := r.Err.Error()
	waitTimeout := strings.Contains(msg, "wait for the node and the stacks: not ready after")
	switch {
	case h.workloads || !waitTimeout:
		t.Fatalf("%s: %v", what, err)
	case what != "first deploy (resumes)" && nodeNotReady.MatchString(msg):
		t.Fatalf("%s: the wait names the node, Ready before: %v", what, err)
	}
	t.Logf("%s: the wait phase's bound (%s, TCG) passed with the stacks' pods not all ready, accepted: %s", what, wait, testkit.Tail(msg, 3))
	return r
}

// checkService checks k0s runs as the systemd service `k0s install
// controller` wrote, with the install flags and env of the spec.
func (h *hostRun) checkService(dp *prepare.DeployPayload) {
	t := h.t
	if got := h.vm.Run("systemctl is-active " + k0spath.UnitName + " || true"); got != "active" {
		t.Fatalf("%s is %q", k0spath.UnitName, got)
	}
	if got := h.vm.Run("systemctl show -p FragmentPath --value " + k0spath.UnitName); got != k0spath.UnitPath {
		t.Errorf("%s loaded from %q, want %s", k0spath.UnitName, got, k0spath.UnitPath)
	}
	exec := h.vm.Run("systemctl show -p ExecStart --value " + k0spath.UnitName)
	env := h.vm.Run("systemctl show -p Environment --value " + k0spath.UnitName)
	want := []string{k0spath.Binary, "controller", "--single=true", "--config=" + k0spath.Config}
	for _, f := range dp.InstallFlags {
		if kv, ok := strings.CutPrefix(f, "--env="); ok {
			if !strings.Contains(" "+env+" ", " "+kv+" ") {
				t.Errorf("%s: Environment %q lacks the spec's %s", k0spath.UnitName, env, kv)
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(exec, w) {
			t.Errorf("%s: ExecStart %q lacks %s", k0spath.UnitName, exec, w)
		}
	}
	t.Logf("%s active: ExecStart %s; Environment %q", k0spath.UnitName, exec, env)
}

// checkFiles checks every payload file on the host by its sha256.
func (h *hostRun) checkFiles(p *payload.Payload) {
	var paths []string
	want := map[string]string{}
	for _, f := range p.Files {
		paths = append(paths, f.Path)
		want[f.Path] = f.SHA256
	}
	out := h.vm.Run("sha256sum " + strings.Join(paths, " ") + " 2>&1 || true")
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			got[f[1]] = f[0]
		}
	}
	stacks := 0
	for _, p := range paths {
		if got[p] != want[p] {
			h.t.Errorf("%s on the host: sha256 %q, want %s", p, got[p], want[p])
		}
		if strings.HasPrefix(p, k0spath.Manifests(k0spath.DataDir)+"/") {
			stacks++
		}
	}
	h.t.Logf("%d payload files on the host with their sha256, %d of them stack manifests in %s", len(paths), stacks, k0spath.Manifests(k0spath.DataDir))
}

// k0sProcess is the service's main PID and start time.
func (h *hostRun) k0sProcess() string {
	return strings.Join(strings.Fields(h.vm.Run("systemctl show -p MainPID,ActiveEnterTimestamp "+k0spath.UnitName)), " ")
}

// milestones are the first deploy's times from the host's power-on.
func (h *hostRun) milestones(d *device) string {
	return fmt.Sprintf("API ready %s, node Ready %s after the host's power-on (deploy log: times from power-on)", fmtDur(d.last["API ready"]), fmtDur(d.last["node Ready"]))
}

// largest is the payload's largest file (the images' bundle).
func largest(p *payload.Payload) payload.File {
	var big payload.File
	for _, f := range p.Files {
		if f.Size > big.Size {
			big = f
		}
	}
	return big
}

func totalSize(p *payload.Payload) int64 {
	var n int64
	for _, f := range p.Files {
		n += f.Size
	}
	return n
}

// diff lists the node paths whose content differs between a and b, or
// that only one has.
func diff(a, b *payload.Payload) []string {
	sums := map[string]string{}
	for _, f := range a.Files {
		sums[f.Path] = f.SHA256
	}
	var out []string
	for _, f := range b.Files {
		if sums[f.Path] != f.SHA256 {
			out = append(out, f.Path)
		}
		delete(sums, f.Path)
	}
	for p := range sums {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
