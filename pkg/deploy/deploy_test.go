package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k0sproject/rig"
	"github.com/kevinburke/ssh_config"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

func TestMain(m *testing.M) {
	// Keep the tests away from the user's ~/.ssh (config, known_hosts,
	// keys) and agent: everything comes from the test's own files.
	home, err := os.MkdirTemp("", "edgeimg-deploy-home-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("SSH_AUTH_SOCK")
	os.Unsetenv("SSH_KNOWN_HOSTS")
	rig.SetLogger(deploy.RigLogger(os.Stderr, false))
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// bigSize is the size of the payload's image bundle stand-in: large enough
// that an upload can be interrupted in the middle.
const bigSize = 24 << 20

// upload-test stand-in for the payload's k0s binary: these tests are about
// moving files, not running k0s (the end-to-end harness deploys the real one).
const standIn = `#!/bin/sh
# edgeimg deploy upload test: a stand-in file at the k0s binary's path. NOT k0s.
echo "edgeimg upload-test stand-in, not k0s" >&2
exit 64
`

// testPayload builds a payload shaped like the real one: k0s binary, its
// config, image bundle, live and staged stacks, the promoter and its unit.
func testPayload(t *testing.T, skip ...string) *payload.Payload {
	t.Helper()
	dir := t.TempDir()
	big := filepath.Join(dir, "edgeimg-bundle.tar")
	if err := os.WriteFile(big, pseudoRandom(1, bigSize), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &payload.Payload{}
	add := func(path string, mode fs.FileMode, data []byte) {
		if !slices.Contains(skip, path) {
			p.Add(path, mode, data)
		}
	}
	add("/usr/local/bin/k0s", 0o755, []byte(standIn))
	add("/etc/k0s/k0s.yaml", 0o600, []byte("apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nmetadata:\n  name: k0s\nspec:\n  telemetry:\n    enabled: false\n"))
	p.AddFile("/var/lib/k0s/images/edgeimg-bundle.tar", 0o644, big)
	add("/var/lib/k0s/manifests/knative-serving/serving-core.yaml", 0o644, yamlish(2, 1<<20))
	add("/var/lib/k0s/manifests/kourier/kourier.yaml", 0o644, yamlish(3, 64<<10))
	add("/var/lib/k0s/manifests/metallb/metallb-native.yaml", 0o644, yamlish(4, 256<<10))
	add("/var/lib/edgeimg/staged/metallb-pool/pool.yaml", 0o644, yamlish(5, 2<<10))
	add("/usr/local/libexec/edgeimg/promote", 0o755, []byte("#!/bin/sh\nexit 0\n"))
	add("/etc/systemd/system/edgeimg-promote.service", 0o644, []byte("[Unit]\nDescription=test\n[Service]\nType=oneshot\nExecStart=/usr/local/libexec/edgeimg/promote\n"))
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	return p
}

func pseudoRandom(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func yamlish(seed uint64, n int) []byte {
	var b bytes.Buffer
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: test\ndata:\n  value: \"%x\"\n", i, r.Uint64())
	}
	return b.Bytes()
}

// logWriter sends the deploy log to the test log.
type logWriter struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func hostOf(s *sshd.Server) deploy.Host {
	return deploy.Host{Address: s.Addr, Port: s.Port, User: s.User, KeyPath: s.ClientKey}
}

func options(t *testing.T, s *sshd.Server, p *payload.Payload, root string) (deploy.Options, *logWriter) {
	log := &logWriter{t: t}
	return deploy.Options{
		Payload:        p,
		Root:           root,
		UploadOnly:     true,
		Arch:           runtime.GOARCH,
		KnownHosts:     s.KnownHosts,
		ConnectTimeout: 5 * time.Second,
		Log:            log,
	}, log
}

func run(t *testing.T, hosts []deploy.Host, o deploy.Options) deploy.Result {
	t.Helper()
	res, err := deploy.Deploy(context.Background(), hosts, o)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return res[0]
}

func totalSize(p *payload.Payload) int64 {
	var n int64
	for _, f := range p.Files {
		n += f.Size
	}
	return n
}

// checkTree asserts the host root holds every payload file with its
// content and mode, and no partial upload.
func checkTree(t *testing.T, root string, p *payload.Payload) {
	t.Helper()
	for _, f := range p.Files {
		path := filepath.Join(root, f.Path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: content differs from the payload", f.Path)
		}
		st, err := os.Stat(path)
		if err == nil && st.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v, want %v", f.Path, st.Mode().Perm(), f.Mode.Perm())
		}
	}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, deploy.PartSuffix) {
			t.Errorf("partial upload left behind: %s", path)
		}
		return nil
	})
}

// listTree lists every path under root with its size and mode.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, fmt.Sprintf("%s %v %d", rel, info.Mode(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeployUploadsVerifiesAndSkips(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	root := t.TempDir()
	o, _ := options(t, s, p, root)
	hosts := []deploy.Host{hostOf(s)}

	first := run(t, hosts, o)
	if first.FilesSent != len(p.Files) || first.BytesSent != totalSize(p) {
		t.Errorf("first run: sent %d files, %d bytes; want %d, %d", first.FilesSent, first.BytesSent, len(p.Files), totalSize(p))
	}
	checkTree(t, root, p)
	var rec struct {
		Files []struct{ Path, SHA256 string }
	}
	data, err := os.ReadFile(filepath.Join(root, deploy.RecordPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rec); err != nil || len(rec.Files) != len(p.Files) {
		t.Errorf("record %s lists %d files (%v), want %d", deploy.RecordPath, len(rec.Files), err, len(p.Files))
	}

	second := run(t, hosts, o)
	if second.BytesSent != 0 || second.FilesSent != 0 || second.FilesUnchanged != len(p.Files) {
		t.Errorf("second run: sent %d files, %d bytes, %d unchanged; want nothing sent", second.FilesSent, second.BytesSent, second.FilesUnchanged)
	}

	// Corrupt one file without changing its size or time, loosen another's mode.
	cfg := filepath.Join(root, "etc/k0s/k0s.yaml")
	data, err = os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(cfg)
	data[10] ^= 0xff
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(cfg, st.ModTime(), st.ModTime())
	if err := os.Chmod(filepath.Join(root, "usr/local/libexec/edgeimg/promote"), 0o700); err != nil {
		t.Fatal(err)
	}
	third := run(t, hosts, o)
	want := int64(len(p.Files[0].Data))
	for _, f := range p.Files {
		if f.Path == "/etc/k0s/k0s.yaml" {
			want = f.Size
		}
	}
	if third.FilesSent != 1 || third.BytesSent != want {
		t.Errorf("after corrupting k0s.yaml: sent %d files, %d bytes; want 1, %d", third.FilesSent, third.BytesSent, want)
	}
	checkTree(t, root, p)
}

func TestDeployResumesPartialUploads(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	var big payload.File
	for _, f := range p.Files {
		if f.Source != "" {
			big = f
		}
	}
	content, err := os.ReadFile(big.Source)
	if err != nil {
		t.Fatal(err)
	}
	others := totalSize(p) - big.Size

	tests := []struct {
		name        string
		part        []byte
		wantResumed int
		wantBytes   int64
	}{
		{"prefix of the file is resumed", content[:5<<20], 1, big.Size - 5<<20 + others},
		{"whole file as partial is only checked", content, 1, others},
		{"partial with other content is sent again", pseudoRandom(9, 5<<20), 0, totalSize(p)},
		{"partial longer than the file is sent again", append(append([]byte{}, content...), 1, 2, 3), 0, totalSize(p)},
		{"empty partial is sent again", []byte{}, 0, totalSize(p)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			part := filepath.Join(root, big.Path+deploy.PartSuffix)
			os.MkdirAll(filepath.Dir(part), 0o755)
			if err := os.WriteFile(part, tc.part, 0o644); err != nil {
				t.Fatal(err)
			}
			o, _ := options(t, s, p, root)
			res := run(t, []deploy.Host{hostOf(s)}, o)
			if res.FilesResumed != tc.wantResumed || res.BytesSent != tc.wantBytes {
				t.Errorf("resumed %d files, sent %d bytes; want %d, %d", res.FilesResumed, res.BytesSent, tc.wantResumed, tc.wantBytes)
			}
			checkTree(t, root, p)
		})
	}

	t.Run("upload interrupted mid-transfer is resumed", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		o, _ := options(t, s, p, root)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o.Progress = func(pr deploy.Progress) {
			if pr.Path == big.Path && pr.Sent >= big.Size/3 {
				cancel()
			}
		}
		res, err := deploy.Deploy(ctx, []deploy.Host{hostOf(s)}, o)
		if err == nil || !errors.Is(res[0].Err, context.Canceled) {
			t.Fatalf("interrupted deploy: err %v, want context.Canceled", err)
		}
		if _, err := os.Stat(filepath.Join(root, big.Path)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("interrupted file is in place: %v", err)
		}
		part := filepath.Join(root, big.Path+deploy.PartSuffix)
		partSize := stableSize(t, part)
		if partSize <= 0 || partSize >= big.Size {
			t.Fatalf("partial file is %d bytes, want part of %d", partSize, big.Size)
		}
		// What the second run must send: the rest of the big file and
		// every file the first run did not get to.
		want := big.Size - partSize
		for _, f := range p.Files {
			if _, err := os.Stat(filepath.Join(root, f.Path)); err != nil && f.Path != big.Path {
				want += f.Size
			}
		}
		o.Progress = nil
		res2 := run(t, []deploy.Host{hostOf(s)}, o)
		if res2.FilesResumed != 1 || res2.BytesSent != want {
			t.Errorf("second run resumed %d files, sent %d bytes; want 1, %d (partial was %d)", res2.FilesResumed, res2.BytesSent, want, partSize)
		}
		checkTree(t, root, p)
	})
}

// stableSize waits until a file written by a remote process stops growing.
func stableSize(t *testing.T, path string) int64 {
	t.Helper()
	last := int64(-1)
	for range 50 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatalf("partial file: %v", err)
		}
		if st.Size() == last {
			return last
		}
		last = st.Size()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s keeps changing", path)
	return 0
}

func TestDeployChecksHostKeys(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	good, err := os.ReadFile(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	wrong := []byte(s.KnownHostsName() + " " + sshd.NewHostKey(t, "ed25519") + "\n")
	tests := []struct {
		name       string
		knownHosts []byte
		acceptNew  bool
		wantErr    error
		recorded   bool
	}{
		{"matching key", good, false, nil, false},
		{"unknown host refused", nil, false, deploy.ErrUnknownHostKey, false},
		{"unknown host accepted and recorded", nil, true, nil, true},
		{"changed key refused", wrong, false, deploy.ErrHostKeyChanged, false},
		{"changed key refused even with accept-new", wrong, true, deploy.ErrHostKeyChanged, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			o, _ := options(t, s, p, root)
			o.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			if tc.knownHosts != nil {
				if err := os.WriteFile(o.KnownHosts, tc.knownHosts, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o.AcceptNewHostKey = tc.acceptNew
			res, err := deploy.Deploy(context.Background(), []deploy.Host{hostOf(s)}, o)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("deploy: %v", err)
				}
				checkTree(t, root, p)
			} else {
				if !errors.Is(res[0].Err, tc.wantErr) {
					t.Fatalf("deploy error %v, want %v", res[0].Err, tc.wantErr)
				}
				if !strings.Contains(res[0].Err.Error(), s.KnownHostsName()[1:10]) {
					t.Errorf("error %q does not name the host", res[0].Err)
				}
				if tree := listTree(t, root); len(tree) != 1 {
					t.Errorf("refused host was changed: %v", tree)
				}
			}
			after, _ := os.ReadFile(o.KnownHosts)
			if tc.recorded {
				// The recorded line must let the next run in without accept-new.
				o.AcceptNewHostKey = false
				run(t, []deploy.Host{hostOf(s)}, o)
				if !bytes.Contains(after, []byte(strings.Fields(s.HostKeys["ssh-ed25519"])[1])) {
					t.Errorf("known_hosts after accepting: %q", after)
				}
			} else if !bytes.Equal(after, tc.knownHosts) {
				t.Errorf("known_hosts changed: %q", after)
			}
		})
	}
}

// The SSH library negotiates ECDSA before Ed25519; a known_hosts with
// only the host's Ed25519 key must neither fail as "changed" nor let an
// unverified ECDSA key in silently.
func TestDeployHostKnownByAnotherKeyType(t *testing.T) {
	s := sshd.Start(t, sshd.Options{HostKeyTypes: []string{"ed25519", "ecdsa"}})
	p := testPayload(t)
	ed := []byte(s.KnownHostsName() + " " + s.HostKeys["ssh-ed25519"] + "\n")
	wrongEd := []byte(s.KnownHostsName() + " " + sshd.NewHostKey(t, "ed25519") + "\n")
	tests := []struct {
		name       string
		knownHosts []byte
		acceptNew  bool
		wantErr    error
	}{
		{"only the ed25519 key known: refused without accept-new", ed, false, deploy.ErrUnknownHostKey},
		{"only the ed25519 key known: ecdsa recorded with accept-new", ed, true, nil},
		{"a wrong ed25519 key known: changed", wrongEd, true, deploy.ErrHostKeyChanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			o, _ := options(t, s, p, root)
			o.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(o.KnownHosts, tc.knownHosts, 0o600); err != nil {
				t.Fatal(err)
			}
			o.AcceptNewHostKey = tc.acceptNew
			res, err := deploy.Deploy(context.Background(), []deploy.Host{hostOf(s)}, o)
			if tc.wantErr != nil {
				if !errors.Is(res[0].Err, tc.wantErr) {
					t.Fatalf("deploy error %v, want %v", res[0].Err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(o.KnownHosts)
			if !bytes.Contains(after, []byte(strings.Fields(s.HostKeys["ecdsa-sha2-nistp256"])[1])) {
				t.Errorf("ecdsa key not recorded: %q", after)
			}
		})
	}
}

func TestDeployUnreachableHostDoesNotStopOthers(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	root := t.TempDir()
	o, log := options(t, s, p, root)
	o.ConnectTimeout = 2 * time.Second
	o.Concurrency = 2

	// A loopback port nobody listens on, and an address of TEST-NET-1
	// (RFC 5737) that no packet reaches.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	hosts := []deploy.Host{
		{Address: "127.0.0.1", Port: closed, User: s.User, KeyPath: s.ClientKey},
		{Address: "192.0.2.1", Port: 22, User: s.User, KeyPath: s.ClientKey},
		hostOf(s),
	}
	res, err := deploy.Deploy(context.Background(), hosts, o)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 hosts failed") {
		t.Errorf("deploy error %v, want 2 of 3 hosts failed", err)
	}
	for i, want := range []string{"127.0.0.1:" + strconv.Itoa(closed), "192.0.2.1:22"} {
		if res[i].Err == nil || !strings.Contains(res[i].Err.Error(), want) {
			t.Errorf("host %d: error %v, want one naming %s", i, res[i].Err, want)
		}
	}
	if res[2].Err != nil || res[2].FilesSent != len(p.Files) {
		t.Errorf("good host: %v, %d files sent", res[2].Err, res[2].FilesSent)
	}
	checkTree(t, root, p)

	var sum bytes.Buffer
	if err := deploy.WriteSummary(&sum, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", sum.String())
	lines := strings.Split(strings.TrimSpace(sum.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "FAILED") || !strings.Contains(lines[3], " ok ") {
		t.Errorf("summary:\n%s", sum.String())
	}
	_ = log
}

func TestDeployDryRunChangesNothing(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("edge\n"), 0o644)
	o, log := options(t, s, p, root)
	o.DryRun = true
	// An unknown key with accept-new: pinned for the run, not recorded.
	o.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	o.AcceptNewHostKey = true

	before := listTree(t, root)
	res := run(t, []deploy.Host{hostOf(s)}, o)
	if res.BytesSent != 0 || !res.DryRun {
		t.Errorf("dry run sent %d bytes", res.BytesSent)
	}
	if after := listTree(t, root); !slices.Equal(before, after) {
		t.Errorf("dry run changed the host:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat(o.KnownHosts); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dry run wrote known_hosts: %v", err)
	}
	if !strings.Contains(log.String(), "would send /var/lib/k0s/images/edgeimg-bundle.tar (new, 24 MiB)") {
		t.Errorf("dry run log does not say what would be sent")
	}

	// After a real deploy and a corruption, a dry run reports the change
	// and leaves the corrupted file alone.
	o.DryRun = false
	run(t, []deploy.Host{hostOf(s)}, o)
	cfg := filepath.Join(root, "etc/k0s/k0s.yaml")
	if err := os.WriteFile(cfg, []byte("corrupted"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.DryRun = true
	before = listTree(t, root)
	run(t, []deploy.Host{hostOf(s)}, o)
	if after := listTree(t, root); !slices.Equal(before, after) {
		t.Errorf("dry run changed the host:\nbefore %v\nafter  %v", before, after)
	}
	if !strings.Contains(log.String(), "would send /etc/k0s/k0s.yaml (changed") {
		t.Errorf("dry run log does not report the changed file")
	}
}

func TestResetRemovesWhatDeployUploaded(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	root := t.TempDir()
	// Something the host had before: it must survive the reset.
	if err := os.MkdirAll(filepath.Join(root, "etc/k0s"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/k0s/keep.conf"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, root)
	o, _ := options(t, s, p, root)
	run(t, []deploy.Host{hostOf(s)}, o)
	checkTree(t, root, p)

	o.DryRun = true
	deployed := listTree(t, root)
	if _, err := deploy.Reset(context.Background(), []deploy.Host{hostOf(s)}, o); err != nil {
		t.Fatal(err)
	}
	if after := listTree(t, root); !slices.Equal(deployed, after) {
		t.Errorf("reset dry run changed the host")
	}

	o.DryRun = false
	// Reset without the payload: the record on the host says what to remove.
	o.Payload = nil
	if _, err := deploy.Reset(context.Background(), []deploy.Host{hostOf(s)}, o); err != nil {
		t.Fatal(err)
	}
	if after := listTree(t, root); !slices.Equal(before, after) {
		t.Errorf("after reset:\n%s\nwant what the host had before:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}

func TestDeployRemovesFilesLeftOutOfThePayload(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	root := t.TempDir()
	p := testPayload(t)
	o, _ := options(t, s, p, root)
	run(t, []deploy.Host{hostOf(s)}, o)

	gone := "/var/lib/k0s/manifests/kourier/kourier.yaml"
	o.Payload = testPayload(t, gone)
	res := run(t, []deploy.Host{hostOf(s)}, o)
	if res.BytesSent != 0 {
		t.Errorf("sent %d bytes, want 0", res.BytesSent)
	}
	if _, err := os.Stat(filepath.Join(root, gone)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still on the host: %v", gone, err)
	}
	checkTree(t, root, o.Payload)
}

// The SSH agent and ssh_config (HostName, Port, IdentityFile,
// UserKnownHostsFile) are how users reach their hosts with ssh; deploy
// must reach them the same way.
func TestDeployUsesSSHConfigAndAgent(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)

	t.Run("ssh_config host alias", func(t *testing.T) {
		conf := fmt.Sprintf("Host edge-test\n  HostName %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Addr, s.Port, s.ClientKey, s.KnownHosts)
		cfg, err := ssh_config.Decode(strings.NewReader(conf))
		if err != nil {
			t.Fatal(err)
		}
		// rig reads ssh_config through this hook; point it at the test's file.
		saved := rig.SSHConfigGetAll
		rig.SSHConfigGetAll = func(alias, key string) []string {
			if v, err := cfg.GetAll(alias, key); err == nil && len(v) > 0 {
				return v
			}
			if d := ssh_config.Default(key); d != "" {
				return []string{d}
			}
			return nil
		}
		t.Cleanup(func() { rig.SSHConfigGetAll = saved })

		root := t.TempDir()
		o, _ := options(t, s, p, root)
		o.KnownHosts = "" // from UserKnownHostsFile
		res := run(t, []deploy.Host{{Address: "edge-test", Port: 22, User: s.User}}, o)
		if res.FilesSent != len(p.Files) {
			t.Errorf("sent %d files", res.FilesSent)
		}
		checkTree(t, root, p)
	})

	t.Run("ssh agent", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "agent.sock")
		agent := exec.Command("ssh-agent", "-D", "-a", sock)
		if err := agent.Start(); err != nil {
			t.Fatalf("ssh-agent: %v", err)
		}
		t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
		t.Setenv("SSH_AUTH_SOCK", sock)
		for i := 0; ; i++ {
			if _, err := os.Stat(sock); err == nil {
				break
			} else if i > 100 {
				t.Fatal("ssh-agent socket did not appear")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if out, err := exec.Command("ssh-add", s.ClientKey).CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
		root := t.TempDir()
		o, _ := options(t, s, p, root)
		h := hostOf(s)
		h.KeyPath = "" // the key is only in the agent
		res := run(t, []deploy.Host{h}, o)
		if res.FilesSent != len(p.Files) {
			t.Errorf("sent %d files", res.FilesSent)
		}
		checkTree(t, root, p)
	})
}

func TestResetAfterAnInterruptedDeploy(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	p := testPayload(t)
	root := t.TempDir()
	o, _ := options(t, s, p, root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Progress = func(pr deploy.Progress) {
		if pr.Sent >= bigSize/2 {
			cancel()
		}
	}
	if _, err := deploy.Deploy(ctx, []deploy.Host{hostOf(s)}, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted deploy: %v", err)
	}
	stableSize(t, filepath.Join(root, "var/lib/k0s/images/edgeimg-bundle.tar"+deploy.PartSuffix))
	o.Progress, o.Payload = nil, nil
	if _, err := deploy.Reset(context.Background(), []deploy.Host{hostOf(s)}, o); err != nil {
		t.Fatal(err)
	}
	if left := listTree(t, root); len(left) != 1 {
		t.Errorf("reset after an interrupted deploy left:\n%s", strings.Join(left, "\n"))
	}
}
