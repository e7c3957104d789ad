package deploy_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// TestPreflightCgroup deploys, for real (not upload-only), over a real
// sshd to this machine, a payload whose node paths all lie in a temporary
// directory. On a cgroup v1 host (this build machine is one) preflight
// refuses a Kubernetes 1.35+ payload before anything is sent, quoting the
// kubelet, and lets it through when the spec opts out (failCgroupV1:
// false) or for Kubernetes 1.33; on a cgroup v2 host it says so. Other
// checks (no init system in a container) may fail too: only the cgroup
// line is judged.
func TestPreflightCgroup(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("statfs /sys/fs/cgroup: %v", err)
	}
	const cgroup2Magic = 0x63677270
	v2 := st.Type == cgroup2Magic
	s := sshd.Start(t, sshd.Options{})

	tests := []struct {
		name    string
		k0s     string
		allowV1 bool
		dryRun  bool
		refused bool     // on a cgroup v1 host
		want    []string // on a cgroup v1 host, in the log's cgroup line or the error
	}{
		{"1.36 refused", "v1.36.3+k0s.2", false, false, true, []string{
			"cgroup v1 host (/sys/fs/cgroup is tmpfs): Kubernetes 1.35 and later need cgroup v2, and k0s v1.36.3+k0s.2 runs Kubernetes 1.36",
			`"kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported and will be removed in a future release"`,
			"failCgroupV1: false in the kubelet worker profile \"default\"",
			`"cgroup v1 detected. cgroup v1 support is deprecated and will be removed in a future release. Please migrate to cgroup v2.`}},
		{"1.35 refused", "v1.35.7+k0s.0", false, false, true, []string{"runs Kubernetes 1.35, whose kubelet would stop"}},
		{"1.36 opted out", "v1.36.3+k0s.2", true, true, false, []string{
			"ok   cgroup v1 host (/sys/fs/cgroup is tmpfs): allowed by the spec's failCgroupV1: false; the kubelet of Kubernetes 1.36 will warn \"cgroup v1 detected."}},
		{"1.33 runs with a warning", "v1.33.8+k0s.1", false, true, false, []string{
			`ok   cgroup v1 host (/sys/fs/cgroup is tmpfs): Kubernetes 1.33 runs on it and warns "cgroup v1 support is in maintenance mode, please migrate to cgroup v2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := t.TempDir()
			p := &payload.Payload{}
			p.Add(node+"/bin/k0s", 0o755, []byte(standIn))
			p.Add(node+"/etc/k0s.yaml", 0o600, []byte("apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\n"))
			if err := p.Seal(); err != nil {
				t.Fatal(err)
			}
			log := &logWriter{t: t}
			o := deploy.Options{
				Payload: p, K0sVersion: tt.k0s, K0sBinary: node + "/bin/k0s", DataDir: node + "/k0s",
				Arch: runtime.GOARCH, KnownHosts: s.KnownHosts, ConnectTimeout: 5 * time.Second, Log: log,
				AllowCgroupV1: tt.allowV1, DryRun: tt.dryRun,
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := deploy.Deploy(ctx, []deploy.Host{hostOf(s)}, o)
			line := cgroupLine(log.String())
			if line == "" {
				t.Fatalf("preflight reported no cgroup line (err %v)", err)
			}
			for _, f := range []string{"bin/k0s", "etc/k0s.yaml"} {
				if _, serr := os.Stat(filepath.Join(node, f)); !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("%s was sent: %v", f, serr)
				}
			}
			if v2 {
				if !strings.Contains(line, "ok   cgroup v2 (/sys/fs/cgroup is cgroup2fs)") {
					t.Errorf("cgroup v2 host: preflight says %q", line)
				}
				return
			}
			failed := strings.Contains(line, "FAIL")
			if failed != tt.refused || (err != nil && strings.Contains(err.Error(), "cgroup")) != tt.refused {
				t.Errorf("refused: line %q, err %v; want refused %v", line, err, tt.refused)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("cgroup line lacks %q:\n%s", w, line)
				}
			}
		})
	}
}

// cgroupLine is preflight's line about cgroups in the deploy log.
func cgroupLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "ok   cgroup") || strings.Contains(l, "FAIL cgroup") {
			return l
		}
	}
	return ""
}
