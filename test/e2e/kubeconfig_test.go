//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/internal/testkit/edgestack"
	"github.com/edgeimg/edgeimg/internal/testkit/sshd"
	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/kubeconfig"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestKubeconfigFromNode fetches the running node's admin kubeconfig as
// edgeimg kubeconfig does (pkg/deploy over a real sshd, then
// pkg/kubeconfig), writes it 0600, and runs k0s's own kubectl with it and
// nothing else: the namespaces and the hello Knative Service are listed.
// The server is the node's address in its network namespace (--server):
// sshd listens on loopback, where the node's API port is not.
func TestKubeconfigFromNode(t *testing.T) {
	e := startEdge(t, edgeOptions{})
	c := cluster.New(t, e.k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	e.waitStacks(ctx, t, c)
	e.waitPromoter(ctx, t)
	e.waitService(ctx, t, c, "default", "hello")

	doc, err := spec.Parse("e2e spec", []byte(edgestack.SpecYAML))
	if err != nil {
		t.Fatal(err)
	}
	name := doc.Metadata.Name
	s := sshd.Start(t, sshd.Options{})
	data, reached, err := deploy.ReadKubeconfig(ctx, deploy.Host{Address: s.Addr, Port: s.Port, User: s.User, KeyPath: s.ClientKey},
		deploy.Options{DataDir: e.k.DataDir, KnownHosts: s.KnownHosts, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubeconfig.Rewrite(data, kubeconfig.Options{Name: name, Address: reached, Server: "https://" + e.k.Address + ":6443"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := kubeconfig.WriteFile(file, out, false); err != nil {
		t.Fatal(err)
	}

	k0sBin := testkit.Binary(t, "k0s")
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, k0sBin, append([]string{"kubectl", "--kubeconfig", file}, args...)...)
		// Nothing but the fetched file: no KUBECONFIG, no ~/.kube.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("k0s kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		t.Logf("k0s kubectl %s:\n%s", strings.Join(args, " "), b)
		return string(b)
	}
	if got := kubectl("config", "current-context"); strings.TrimSpace(got) != name {
		t.Errorf("current context %q, want %q", strings.TrimSpace(got), name)
	}
	for _, ns := range []string{"knative-serving", "kourier-system", "metallb-system"} {
		if !strings.Contains(kubectl("get", "ns", "-o", "name"), "namespace/"+ns) {
			t.Errorf("namespace %s not listed", ns)
		}
	}
	if got := kubectl("get", "ksvc", "-A", "-o", "custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type==\"Ready\")].status", "--no-headers"); !strings.Contains(got, "hello") || !strings.Contains(got, "True") {
		t.Errorf("k0s kubectl get ksvc -A: want hello Ready, got:\n%s", got)
	}
}
