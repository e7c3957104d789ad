package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/deploy"
)

// TestDeployLinks: a payload link (network bridge's CNI plugins in
// /opt/cni/bin, pointing at Debian's) is refused while its target is
// missing, naming the package; created once it is there; left alone when
// the host has it already; never put over a file; and removed by reset,
// its target kept.
func TestDeployLinks(t *testing.T) {
	s := sshd.Start(t, sshd.Options{})
	hosts := []deploy.Host{hostOf(s)}
	root := t.TempDir()
	p := testPayload(t)
	p.Packages = []string{"containernetworking-plugins"}
	p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge")
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "opt/cni/bin/bridge")
	target := filepath.Join(root, "usr/lib/cni/bridge")

	// Target missing: refused before anything is written.
	before := listTree(t, root)
	o, _ := options(t, s, p, root)
	_, err := deploy.Deploy(context.Background(), hosts, o)
	if err == nil || !strings.Contains(err.Error(), "/usr/lib/cni/bridge") || !strings.Contains(err.Error(), "apt-get install containernetworking-plugins") {
		t.Fatalf("deploy without the link's target: %v, want a refusal naming the target and the package", err)
	}
	if after := listTree(t, root); !slices.Equal(before, after) {
		t.Errorf("a refused deploy changed the host:\n%s", strings.Join(after, "\n"))
	}

	// Target present: the link is made and recorded.
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, hosts, o)
	if got, err := os.Readlink(link); err != nil || got != "/usr/lib/cni/bridge" {
		t.Fatalf("link %s -> %q (%v), want /usr/lib/cni/bridge", link, got, err)
	}
	rec, err := os.ReadFile(filepath.Join(root, deploy.RecordPath))
	if err != nil || !strings.Contains(string(rec), `"/opt/cni/bin/bridge"`) {
		t.Errorf("record does not list the link it made: %v\n%s", err, rec)
	}

	// Again: nothing changes.
	log := &logWriter{t: t}
	o.Log = log
	run(t, hosts, o)
	if strings.Contains(log.String(), "linked ") {
		t.Errorf("second deploy linked again:\n%s", log.String())
	}

	// Reset removes the link, keeps the target (the host's package).
	o.Payload = nil
	if _, err := deploy.Reset(context.Background(), hosts, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("after reset %s: %v, want it gone", link, err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("reset removed the host's %s: %v", target, err)
	}

	// A file of the host's at the link's path: refused, kept.
	o.Payload = p
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(link, []byte("mine\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.Deploy(context.Background(), hosts, o); err == nil || !strings.Contains(err.Error(), "is not a link") {
		t.Fatalf("deploy over a file at the link's path: %v, want a refusal", err)
	}
	if data, err := os.ReadFile(link); err != nil || string(data) != "mine\n" {
		t.Errorf("the host's file at %s: %q %v, want it kept", link, data, err)
	}
}
