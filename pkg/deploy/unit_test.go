package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

func TestCheckK0sVersion(t *testing.T) {
	tests := []struct {
		name     string
		k        k0sFacts
		payload  string
		same     bool
		fail     bool
		contains []string
	}{
		{"not installed", k0sFacts{}, "v1.33.8+k0s.1", false, false, []string{"will install v1.33.8+k0s.1"}},
		{"same version", k0sFacts{Present: true, Version: "v1.33.8+k0s.1"}, "v1.33.8+k0s.1", false, false, []string{"update in place"}},
		{"older k0s build", k0sFacts{Present: true, Version: "v1.33.8+k0s.0"}, "v1.33.8+k0s.1", false, false, []string{"upgrade from v1.33.8+k0s.0 to v1.33.8+k0s.1"}},
		{"older minor", k0sFacts{Present: true, Service: "/etc/systemd/system/k0scontroller.service", Version: "v1.32.4+k0s.0"}, "v1.33.8+k0s.1", false, false, []string{"upgrade"}},
		{"newer patch is a downgrade", k0sFacts{Present: true, Version: "v1.33.9+k0s.0"}, "v1.33.8+k0s.1", false, true, []string{"refusing to downgrade", "v1.33.9+k0s.0 (installed)", "v1.33.8+k0s.1 (payload)"}},
		{"newer k0s build is a downgrade", k0sFacts{Present: true, Version: "v1.33.8+k0s.2"}, "v1.33.8+k0s.1", false, true, []string{"v1.33.8+k0s.2", "v1.33.8+k0s.1"}},
		{"running version when the binary is gone", k0sFacts{Service: "x", Running: true, RunningVersion: "v1.34.1+k0s.0"}, "v1.33.8+k0s.1", false, true, []string{"v1.34.1+k0s.0"}},
		{"binary without a version", k0sFacts{Present: true, VersionErr: "exec format error"}, "v1.33.8+k0s.1", false, false, []string{"reports no version (exec format error)"}},
		{"not a release", k0sFacts{Present: true, Version: "dev"}, "v1.33.8+k0s.1", false, false, []string{"not a k0s release"}},
		{"the payload's binary, uploaded by an interrupted deploy", k0sFacts{Present: true, Version: "v1.33.9-dev+k0s.edgeimg"}, "v1.33.8+k0s.1", true, false, []string{"the payload's", "v1.33.9-dev+k0s.edgeimg"}},
		{"the payload's binary, the service running it", k0sFacts{Present: true, Service: "x", Running: true, Version: "v1.33.9+k0s.0", RunningVersion: "v1.33.9+k0s.0"}, "v1.33.8+k0s.1", true, false, []string{"the payload's"}},
		{"the payload's binary, a newer k0s still running", k0sFacts{Present: true, Service: "x", Running: true, Version: "v1.33.8+k0s.1", RunningVersion: "v1.34.1+k0s.0"}, "v1.33.8+k0s.1", true, false, []string{"update in place"}},
		{"another binary reporting a newer version", k0sFacts{Present: true, Version: "v1.33.9-dev+k0s.edgeimg"}, "v1.33.8+k0s.1", false, true, []string{"refusing to downgrade"}},
		{"bad payload version", k0sFacts{Present: true, Version: "v1.33.8+k0s.1"}, "latest", false, true, []string{`payload version "latest"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, fail := checkK0sVersion(tc.k, tc.payload, tc.same)
			if fail != tc.fail {
				t.Errorf("fail = %v, want %v (%s)", fail, tc.fail, msg)
			}
			for _, c := range tc.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("%q does not contain %q", msg, c)
				}
			}
		})
	}
}

func TestInstallArgs(t *testing.T) {
	withConfig := &payload.Payload{Files: []payload.File{{Path: k0spath.Config}}}
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"defaults added", Options{Payload: withConfig, DataDir: k0spath.DataDir}, []string{"--single", "--config=" + k0spath.Config}},
		{"no config in the payload", Options{Payload: &payload.Payload{}, DataDir: k0spath.DataDir}, []string{"--single"}},
		{"given flags kept", Options{Payload: withConfig, DataDir: k0spath.DataDir, InstallArgs: []string{"--single=true", "-c", "/etc/other.yaml", "--disable-components=metrics-server"}},
			[]string{"--single=true", "-c", "/etc/other.yaml", "--disable-components=metrics-server"}},
		{"data dir", Options{Payload: withConfig, DataDir: "/data/k0s"}, []string{"--single", "--config=" + k0spath.Config, "--data-dir=/data/k0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := installArgs(&tc.o); !slices.Equal(got, tc.want) {
				t.Errorf("installArgs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInstallAndStartDecisions(t *testing.T) {
	p := &payload.Payload{Files: []payload.File{{Path: k0spath.Binary}, {Path: k0spath.Config}}}
	args := []string{"--single", "--config=" + k0spath.Config}
	tests := []struct {
		name        string
		k           k0sFacts
		rec         *record
		changed     []string
		wantInstall string
		wantStart   string
	}{
		{"fresh host", k0sFacts{}, nil, nil, "install controller --single --config=/etc/k0s/k0s.yaml", "start"},
		{"installed by deploy, running, nothing changed", k0sFacts{Present: true, Service: "s", Running: true}, &record{InstallArgs: args}, nil, "", ""},
		{"installed by deploy, config changed", k0sFacts{Present: true, Service: "s", Running: true}, &record{InstallArgs: args}, []string{k0spath.Config}, "", "restart"},
		{"installed by deploy, binary changed", k0sFacts{Present: true, Service: "s", Running: true}, &record{InstallArgs: args}, []string{k0spath.Binary}, "", "restart"},
		{"installed with other flags", k0sFacts{Present: true, Service: "s", Running: true}, &record{InstallArgs: []string{"--single"}}, nil, "install controller --single --config=/etc/k0s/k0s.yaml --force", "restart"},
		{"installed by hand", k0sFacts{Present: true, Service: "s"}, nil, nil, "install controller --single --config=/etc/k0s/k0s.yaml --force", "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &hostState{opts: &Options{Payload: p, K0sBinary: k0spath.Binary, DataDir: k0spath.DataDir}, changed: map[string]bool{}}
			s.facts.K0s, s.facts.Record = tc.k, tc.rec
			for _, c := range tc.changed {
				s.changed[c] = true
			}
			ip := &installPhase{s}
			if got := strings.Join(ip.installCommand(), " "); got != tc.wantInstall {
				t.Errorf("install = %q, want %q", got, tc.wantInstall)
			}
			if ip.installCommand() != nil {
				s.changed[k0sServiceKey] = true
			}
			if got, _ := (&startPhase{s}).k0sAction(); got != tc.wantStart {
				t.Errorf("start action = %q, want %q", got, tc.wantStart)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		in      string
		want    Host
		wantErr string
	}{
		{"10.0.0.5", Host{Address: "10.0.0.5", Port: 22, User: "root"}, ""},
		{"admin@edge-1:2222", Host{Address: "edge-1", Port: 2222, User: "admin"}, ""},
		{"[fd00::5]:2022", Host{Address: "fd00::5", Port: 2022, User: "root"}, ""},
		{"pi@[fd00::5]", Host{Address: "fd00::5", Port: 22, User: "pi"}, ""},
		{"edge:0", Host{}, "port"},
		{"edge:ssh", Host{}, "port"},
		{"@edge", Host{}, "empty user"},
		{"", Host{}, "expected [user@]address[:port]"},
		{"fd00::5:2022", Host{}, "an IPv6 address must be in brackets"},
		{"pi@fd00::5", Host{}, "an IPv6 address must be in brackets"},
		{"::1", Host{}, "in brackets"},
		{"[edge-1]:22", Host{}, "expected an IPv6 address"},
		{"[fe80::1%eth0]:22", Host{Address: "fe80::1%eth0", Port: 22, User: "root"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseHost(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseHost = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestStacks(t *testing.T) {
	p := &payload.Payload{}
	for _, f := range []string{
		"/var/lib/k0s/manifests/knative-serving/serving-core.yaml",
		"/var/lib/k0s/manifests/knative-serving/config.yaml",
		"/var/lib/k0s/manifests/metallb/metallb.yaml",
		"/var/lib/k0s/manifests/notes.txt",
		"/var/lib/k0s/manifests/x/nested/ignored.yaml",
		"/var/lib/edgeimg/staged/metallb-pool/pool.yaml",
		"/var/lib/edgeimg/staged/metallb-pool/gates",
		"/var/lib/k0s/images/edgeimg-bundle.tar",
	} {
		p.Add(f, 0o644, []byte{})
	}
	live, staged := stacks(&Options{Payload: p, DataDir: "/var/lib/k0s", StagedDir: "/var/lib/edgeimg/staged"})
	if !slices.Equal(live, []string{"knative-serving", "metallb"}) || !slices.Equal(staged, []string{"metallb-pool"}) {
		t.Errorf("stacks = %q, %q", live, staged)
	}
}

// kubectl output shapes, trimmed to the fields the wait phase reads.
func TestNodeAndPodProblems(t *testing.T) {
	nodes := `{"items":[{"metadata":{"name":"edge"},"status":{"conditions":[
		{"type":"MemoryPressure","status":"False"},
		{"type":"Ready","status":"False","reason":"KubeletNotReady","message":"container runtime network not ready"}]}}]}`
	got, err := nodeProblems([]byte(nodes))
	if err != nil || len(got) != 1 || !strings.Contains(got[0], "node edge not Ready (KubeletNotReady: container runtime network not ready)") {
		t.Errorf("nodeProblems = %q, %v", got, err)
	}
	if got, _ := nodeProblems([]byte(`{"items":[]}`)); len(got) != 1 || got[0] != "no node registered yet" {
		t.Errorf("no nodes: %q", got)
	}
	if got, _ := nodeProblems([]byte(`{"items":[{"metadata":{"name":"edge"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]}`)); len(got) != 0 {
		t.Errorf("ready node: %q", got)
	}

	pods := `{"items":[
	 {"metadata":{"name":"activator-1","namespace":"knative-serving"},"status":{"phase":"Pending","conditions":[{"type":"Ready","status":"False"}],
	  "containerStatuses":[{"name":"activator","ready":false,"state":{"waiting":{"reason":"ErrImageNeverPull","message":"Container image \"gcr.io/x@sha256:1\" is not present with pull policy of Never"}}}]}},
	 {"metadata":{"name":"controller-1","namespace":"metallb-system"},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","message":"0/1 nodes are available: 1 Insufficient cpu."}]}},
	 {"metadata":{"name":"crash-1","namespace":"default"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],
	  "containerStatuses":[{"name":"app","ready":false,"state":{"terminated":{"reason":"Error","exitCode":2}}}]}},
	 {"metadata":{"name":"ok-1","namespace":"default"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}},
	 {"metadata":{"name":"job-1","namespace":"default"},"status":{"phase":"Succeeded"}}]}`
	got, err = podProblems([]byte(pods))
	want := []string{
		`pod knative-serving/activator-1 container activator ErrImageNeverPull Container image "gcr.io/x@sha256:1" is not present with pull policy of Never`,
		"pod metallb-system/controller-1 unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
		"pod default/crash-1 container app Error (exit 2)",
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("podProblems =\n%q\nwant\n%q (%v)", got, want, err)
	}
}

func TestParentDirs(t *testing.T) {
	got := parentDirs([]string{"/usr/local/bin/k0s", "/etc/k0s/k0s.yaml", "/usr/local/libexec/edgeimg/promote"})
	want := []string{"/usr", "/usr/local", "/usr/local/bin", "/etc", "/etc/k0s", "/usr/local/libexec", "/usr/local/libexec/edgeimg"}
	if !slices.Equal(got, want) {
		t.Errorf("parentDirs = %q, want %q", got, want)
	}
}

// fakePhase stands for a host's phase in TestRunPhases.
type fakePhase struct {
	title string
	err   error
	calls *[]string
}

func (p *fakePhase) Title() string { return p.title }
func (p *fakePhase) Run(context.Context) error {
	*p.calls = append(*p.calls, "run "+p.title)
	return p.err
}
func (p *fakePhase) DryRun(_ context.Context, w io.Writer) error {
	*p.calls = append(*p.calls, "dry "+p.title)
	fmt.Fprintf(w, "  would %s\n  and more\n", p.title)
	return p.err
}

// fakeReader only reads and holds a connection.
type fakeReader struct{ fakePhase }

func (p *fakeReader) ReadOnly() {}
func (p *fakeReader) Release(context.Context) {
	*p.calls = append(*p.calls, "release "+p.title)
}

func TestRunPhases(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		dry       bool
		debug     bool
		failAt    int // -1: none
		cancelled bool
		wantLog   string
		wantCalls string
		wantErr   string
	}{
		{
			name: "deploy", failAt: -1,
			wantLog:   "[h] ==> Connect\n[h] ==> Upload payload\n",
			wantCalls: "run Connect,run Upload payload,release Connect",
		},
		{
			name: "dry run: the reader runs, the other says what it would do", dry: true, failAt: -1,
			wantLog:   "[h] ==> Connect\n[h] ==> Upload payload\n[h]   would Upload payload\n[h]   and more\n",
			wantCalls: "run Connect,dry Upload payload,release Connect",
		},
		{
			name: "a phase fails: its title in lower case, the connection released", failAt: 1,
			wantLog:   "[h] ==> Connect\n[h] ==> Upload payload\n",
			wantCalls: "run Connect,run Upload payload,release Connect",
			wantErr:   "upload payload: boom",
		},
		{
			name: "debug: the time of each phase that succeeded", debug: true, failAt: 1,
			wantLog:   "[h] ==> Connect\n[h]     Connect done in T\n[h] ==> Upload payload\n",
			wantCalls: "run Connect,run Upload payload,release Connect",
			wantErr:   "upload payload: boom",
		},
		{
			name: "cancelled before the first phase: the context's error alone", failAt: -1, cancelled: true,
			wantErr: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			var log bytes.Buffer
			s := &hostState{opts: &Options{DryRun: tt.dry}, log: &hostLog{mu: &sync.Mutex{}, w: &log, prefix: "[h] ", debug: tt.debug}}
			ps := []phase.Phase{&fakeReader{fakePhase{title: "Connect", calls: &calls}}}
			up := &fakePhase{title: "Upload payload", calls: &calls}
			if tt.failAt == 1 {
				up.err = boom
			}
			ps = append(ps, up)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancelled {
				cancel()
			}
			defer cancel()
			err := runPhases(ctx, s, ps)
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("runPhases = %v, want %q", err, tt.wantErr)
			}
			if tt.failAt == 1 && !errors.Is(err, boom) {
				t.Errorf("%v does not wrap the phase's error", err)
			}
			if got := regexp.MustCompile(`done in \S+`).ReplaceAllString(log.String(), "done in T"); got != tt.wantLog {
				t.Errorf("log:\n%s\nwant:\n%s", got, tt.wantLog)
			}
			if got := strings.Join(calls, ","); got != tt.wantCalls {
				t.Errorf("calls = %s, want %s", got, tt.wantCalls)
			}
		})
	}
}

func TestPayloadArch(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "k0s")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable() // an ELF file of this machine's arch
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, source, arch string
		want, wantErr      string
	}{
		{name: "not ELF, arch unset: unknown", source: script, want: ""},
		{name: "not ELF, arch set", source: script, arch: "arm64", want: "arm64"},
		{name: "ELF, arch unset", source: self, want: runtime.GOARCH},
		{name: "ELF disagrees with the spec", source: self, arch: "riscv64", wantErr: "its k0s binary"},
		{name: "unreadable binary is an error, not an unknown arch", source: filepath.Join(dir, "missing"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{K0sBinary: k0spath.Binary, Arch: tt.arch, Payload: &payload.Payload{Files: []payload.File{{Path: k0spath.Binary, Source: tt.source}}}}
			got, _, err := payloadArch(o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("payloadArch = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("payloadArch = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestWaitStatus(t *testing.T) {
	refused := "E1206 05:18:49.283963    1232 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list\"\n" +
		"E1206 05:18:49.328990    1232 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list\"\n" +
		"The connection to the server localhost:6443 was refused - did you specify the right host or port?"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"kubectl's retries cut to its summary", fmt.Errorf("k0s kubectl get nodes -o json: %w", &exitError{status: 1, stderr: refused}),
			"k0s kubectl get nodes -o json: exit status 1: The connection to the server localhost:6443 was refused - did you specify the right host or port?"},
		{"one line kept", fmt.Errorf("k0s kubectl get nodes: %w", &exitError{status: 1, stderr: "error: stat /var/lib/k0s/pki/admin.conf: no such file or directory"}),
			"k0s kubectl get nodes: exit status 1: error: stat /var/lib/k0s/pki/admin.conf: no such file or directory"},
		{"no stderr", &exitError{status: 2}, "exit status 2"},
		{"not a command's exit", errors.New("ssh: connection lost"), "ssh: connection lost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := waitStatus(tc.err); got != tc.want {
				t.Errorf("waitStatus = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDiskNeeds(t *testing.T) {
	const mib = 1 << 20
	files := []payload.File{
		{Path: k0spath.Binary, Size: 100 * mib, SHA256: "k0s"},
		{Path: k0spath.Images(k0spath.DataDir) + "/bundle.tar", Size: 200 * mib, SHA256: "bundle"},
		{Path: k0spath.DataDir + "/manifests/a/a.yaml", Size: 1 * mib, SHA256: "a"},
	}
	have := func(sums ...string) []fileState {
		var out []fileState
		for _, s := range sums {
			out = append(out, fileState{SHA256: s, Part: -1})
		}
		return out
	}
	dirs := []dirState{{Path: path.Dir(k0spath.Binary), Mount: "/", Avail: 10 << 30}, {Path: k0spath.Images(k0spath.DataDir), Mount: "/", Avail: 10 << 30},
		{Path: k0spath.DataDir + "/manifests/a", Mount: "/", Avail: 10 << 30}, {Path: k0spath.DataDir, Mount: "/", Avail: 10 << 30}}
	installed := k0sFacts{Present: true, Service: k0spath.UnitPath, Running: true}
	tests := []struct {
		name  string
		k0s   k0sFacts
		files []fileState
		want  int64
	}{
		{"first deploy: all, k0s's room, the import", k0sFacts{}, have("", "", ""), 301*mib + k0sDataHeadroom + imagesImportFactor*200*mib},
		{"uploaded before, k0s never installed: the import and k0s's room still", k0sFacts{Present: true}, have("k0s", "bundle", "a"), k0sDataHeadroom + imagesImportFactor*200*mib},
		{"redeploy, nothing changed: nothing", installed, have("k0s", "bundle", "a"), 0},
		{"a manifest changed: its size", installed, have("k0s", "bundle", "old"), 1 * mib},
		{"the bundle changed: it and its import", installed, have("k0s", "old", "a"), 200*mib + imagesImportFactor*200*mib},
		{"k0s changed: it and k0s's room", installed, have("old", "bundle", "a"), 100*mib + k0sDataHeadroom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &hostState{opts: &Options{Payload: &payload.Payload{Files: files}, K0sBinary: k0spath.Binary, DataDir: k0spath.DataDir},
				facts: facts{K0s: tc.k0s, Files: tc.files, Dirs: dirs}}
			var got int64
			for _, d := range (&preflightPhase{s}).diskNeeds() {
				got += d.need
			}
			if got != tc.want {
				t.Errorf("need %d MiB, want %d MiB", got/mib, tc.want/mib)
			}
		})
	}
}
