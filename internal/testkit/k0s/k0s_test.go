package k0s

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrimage"
)

// testImages builds testdata/testimage and packs it as the pause image k0s
// expects and as an app image, in one tar.
func testImages(t testing.TB) (tarPath, appRef string) {
	t.Helper()
	bin := testkit.BuildStaticBinary(t, filepath.Join("..", "testdata", "testimage"))
	appRef = "edgeimg.test/testapp:v1"
	tarPath = filepath.Join(t.TempDir(), "testimages.tar")
	if err := ctrimage.WriteTar(tarPath,
		ctrimage.Image{Ref: PauseImage, Binary: bin, Entrypoint: []string{"/testimage", "pause"}},
		ctrimage.Image{Ref: appRef, Binary: bin, Env: []string{"PORT=8080"}},
		KubeProxyImage(t, testKubeProxyImage+":"+testKubeProxyVersion),
	); err != nil {
		t.Fatal(err)
	}
	return tarPath, appRef
}

const (
	testKubeProxyImage   = "edgeimg.test/kube-proxy"
	testKubeProxyVersion = "v1.33.13"
)

// testK0sConfig is DefaultConfig with kube-proxy from KubeProxyImage and
// nothing ever pulled.
const testK0sConfig = DefaultConfig + `  images:
    default_pull_policy: Never
    kubeproxy:
      image: ` + testKubeProxyImage + `
      version: ` + testKubeProxyVersion + `
`

// hostPathsK0sWrites are what k0s and kubelet write outside --data-dir; the
// harness keeps them in its private mount namespace.
var hostPathsK0sWrites = []string{"/etc/k0s", "/run/k0s", "/var/log/pods", "/var/log/containers"}

// TestK0sRunsPod starts a real k0s single node from the cached builds, with
// only locally built images (pause and an app, imported from
// <data-dir>/images), and runs a pod on it.
func TestK0sRunsPod(t *testing.T) {
	existed := map[string]bool{}
	for _, p := range hostPathsK0sWrites {
		_, err := os.Stat(p)
		existed[p] = err == nil
	}
	tarPath, appRef := testImages(t)

	beforeStartRan := false
	k := Start(t, Options{
		Config:    testK0sConfig,
		ImageTars: []string{tarPath},
		// No images for these here (the end-to-end harness builds them).
		ExtraArgs: []string{"--disable-components=coredns,metrics-server"},
		BeforeStart: func(dataDir string) error {
			for _, p := range []string{"bin/kubelet", "bin/containerd", "bin/runc", "images/testimages.tar"} {
				if _, err := os.Stat(filepath.Join(dataDir, p)); err != nil {
					return err
				}
			}
			beforeStartRan = true
			return nil
		},
	})
	if !beforeStartRan {
		t.Error("BeforeStart did not run")
	}

	cs := kubernetes.NewForConfigOrDie(k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           appRef,
				ImagePullPolicy: corev1.PullNever,
				Env:             []corev1.EnvVar{{Name: "TARGET", Value: "edgeimg"}},
			}},
		},
	}
	start := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last string
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if ready {
			if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "10.244.0.") {
				t.Errorf("pod IP %q, want one from the bridge CNI's 10.244.0.0/24", p.Status.PodIP)
			}
			break
		}
		last = podSummary(p)
		select {
		case <-ctx.Done():
			ev, _ := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
			var evs []string
			for _, e := range ev.Items {
				evs = append(evs, e.Reason+": "+e.Message)
			}
			t.Fatalf("pod not Ready: %s\nevents:\n%s", last, strings.Join(evs, "\n"))
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("pod Ready %s after creation", time.Since(start).Round(10*time.Millisecond))

	// Its output, through apiserver → kubelet.
	var logs string
	for i := 0; i < 50; i++ {
		b, err := cs.CoreV1().Pods("default").GetLogs("hello", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err == nil && strings.Contains(string(b), `serving "Hello edgeimg!" on :8080`) {
			logs = string(b)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if logs == "" {
		t.Errorf("pod log never showed the app serving")
	}

	// kube-proxy runs from the image built here and programs the Service
	// rules of the kubernetes Service in the node's network namespace.
	waitKubeProxy(t, ctx, cs, k)

	if _, err := os.Stat(k.ContainerdSocket); err != nil {
		t.Errorf("containerd socket: %v", err)
	}
	for _, p := range hostPathsK0sWrites {
		if _, err := os.Stat(p); (err == nil) != existed[p] {
			t.Errorf("host path %s changed while k0s ran (existed before: %v)", p, existed[p])
		}
	}

	k.Stop()
	for _, p := range []string{k.DataDir, "/run/netns/" + k.NetNS, "/sys/fs/cgroup/memory/edgeimg-k0s-" + strings.TrimPrefix(k.NetNS, "edgeimg-")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after Stop (%v)", p, err)
		}
	}
}

func podSummary(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			s += "; " + c.Name + ": " + w.Reason + ": " + w.Message
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			s += "; " + string(c.Type) + ": " + c.Message
		}
	}
	return s
}

func TestK0sConfigFor(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
		want              []string
	}{
		{name: "default", in: DefaultConfig, want: []string{"address: 172.31.200.2", "- 172.31.200.2", "enabled: false", "provider: custom", `conntrack-max-per-core: "0"`}},
		{name: "keeps caller sans", in: "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  api:\n    sans: [edge.local]\n  telemetry: {enabled: true}\n",
			want: []string{"- edge.local", "- 172.31.200.2", "enabled: false"}},
		{name: "not a ClusterConfig", in: "kind: Pod\n", wantErr: "want kind ClusterConfig"},
		{name: "bad spec", in: "kind: ClusterConfig\nspec: 3\n", wantErr: "spec is int"},
		{name: "not yaml", in: "kind: [\n", wantErr: "k0s config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := k0sConfigFor(tc.in, "172.31.200.2")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestEnvArgs runs the launch's last step as Start does (/bin/sh's
// `exec "$@"`) and checks that the variables reach the program, names with
// '-' included, which the shell alone drops.
func TestEnvArgs(t *testing.T) {
	env := map[string]string{"GOGC": "50", "KUBE-APISERVER_GOMEMLIMIT": "200MiB"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
		lost []string
	}{
		{"through env(1)", envArgs(env), []string{"GOGC=50", "KUBE-APISERVER_GOMEMLIMIT=200MiB"}, nil},
		{"shell only", nil, []string{"GOGC=50"}, []string{"KUBE-APISERVER_GOMEMLIMIT=200MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-c", `exec "$@"`, "launch"}, tc.args...)
			cmd := exec.Command("/bin/sh", append(args, "/usr/bin/env")...)
			if tc.args == nil {
				// The shell inherits them instead.
				cmd = exec.Command("/usr/bin/env", "GOGC=50", "KUBE-APISERVER_GOMEMLIMIT=200MiB", "/bin/sh", "-c", `exec "$@"`, "launch", "/usr/bin/env")
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(out), "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("environment lacks %s:\n%s", w, out)
				}
			}
			for _, l := range tc.lost {
				if slices.Contains(lines, l) {
					t.Errorf("the shell kept %s: envArgs may not be needed", l)
				}
			}
		})
	}
	if envArgs(nil) != nil {
		t.Errorf("envArgs(nil) = %q, want nothing", envArgs(nil))
	}
}

func waitKubeProxy(t *testing.T, ctx context.Context, cs kubernetes.Interface, k *Cluster) {
	t.Helper()
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(ds.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--conntrack-max-per-core=0") {
		t.Errorf("kube-proxy args %q lack --conntrack-max-per-core=0", args)
	}
	var last string
	for {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
		if err == nil && len(pods.Items) == 1 {
			p := &pods.Items[0]
			last = podSummary(p)
			if p.Status.Phase == corev1.PodRunning {
				out, err := k.Command(ctx, "xtables-nft-multi", "iptables-save", "-t", "nat").CombinedOutput()
				last += "; iptables: " + strings.TrimSpace(string(out))
				if err == nil && strings.Contains(string(out), svc.Spec.ClusterIP+"/32") && strings.Contains(string(out), "KUBE-SERVICES") {
					return
				}
			}
		} else if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kube-proxy did not program the kubernetes Service %s: %s", svc.Spec.ClusterIP, testkit.Tail(last, 20))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// BenchmarkStartK0s measures k0s controller --single from start to apiserver
// /readyz and to node Ready (run with -benchtime=1x).
func BenchmarkStartK0s(b *testing.B) {
	tarPath, _ := testImages(b)
	var api, node time.Duration
	for i := 0; i < b.N; i++ {
		k := Start(b, Options{
			Config:    testK0sConfig,
			ImageTars: []string{tarPath},
			ExtraArgs: []string{"--disable-components=coredns,metrics-server"},
		})
		api += k.APIServerReady
		node += k.NodeReady
		b.StopTimer()
		k.Stop()
		b.StartTimer()
	}
	b.ReportMetric(api.Seconds()/float64(b.N), "s-apiserver-ready")
	b.ReportMetric(node.Seconds()/float64(b.N), "s-node-ready")
}

func TestPrivateIPAM(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
		want, notWant     []string
	}{
		{name: "host-local without dataDir", in: `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.0.0/16"}]]}},{"type":"portmap"}]}`,
			want: []string{`"dataDir": "/data/cni/ipam"`, `"subnet": "10.244.0.0/16"`, `"type": "portmap"`}},
		{name: "dataDir kept", in: `{"plugins":[{"type":"bridge","ipam":{"type":"host-local","dataDir":"/elsewhere"}}]}`,
			want: []string{`"dataDir": "/elsewhere"`}, notWant: []string{"/data/cni/ipam"}},
		{name: "other ipam untouched", in: `{"plugins":[{"type":"bridge","ipam":{"type":"dhcp"}}]}`,
			notWant: []string{"dataDir"}},
		{name: "not json", in: `plugins: []`, wantErr: "CNI config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := privateIPAM(tc.in, "/data/cni/ipam")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %s:\n%s", w, out)
				}
			}
		})
	}
}

// TestDropPageCache writes a file (its pages cached, dirty) and checks that
// none of them stays resident after dropPageCache (mincore on a mapping).
func TestDropPageCache(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	if err := os.WriteFile(p, bytes.Repeat([]byte{7}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	resident := func() int {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		vec := make([]byte, (size+os.Getpagesize()-1)/os.Getpagesize())
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatalf("mincore: %v", errno)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	if n := resident(); n == 0 {
		t.Fatalf("no page of a file just written is resident: mincore cannot tell")
	}
	if err := dropPageCache(dir); err != nil {
		t.Fatal(err)
	}
	if n := resident(); n != 0 {
		t.Errorf("%d pages still resident after dropPageCache", n)
	}
}
