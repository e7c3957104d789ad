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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/internal/testkit/kube"
	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// TestPromoterLabelsALateNode: on a slow first boot the API server answers
// minutes before the kubelet registers the node; the payload's promoter
// (real script, real k0s kubectl, real kube-apiserver) must wait for the
// node and then set the device file's labels, not label nothing and
// carry on.
func TestPromoterLabelsALateNode(t *testing.T) {
	api := kube.StartAPIServer(t)
	k0sBin := k0s.Binaries(t)["k0s"]
	dir := t.TempDir()
	script := filepath.Join(dir, "promote-staged")
	if err := os.WriteFile(script, bundle.PromoterScript(), 0o755); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "device.env")
	if err := os.WriteFile(env, []byte("EDGEIMG_NODE_LABELS=\"tier=edge,example.com/site=lab\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", script)
	cmd.Env = append(os.Environ(),
		"EDGEIMG_K0S="+k0sBin, "EDGEIMG_KUBECONFIG="+api.Kubeconfig, "EDGEIMG_DEVICE_ENV="+env,
		"K0S_DATA_DIR="+filepath.Join(dir, "k0s"), "EDGEIMG_STAGED_DIR="+filepath.Join(dir, "staged"),
		"EDGEIMG_PROMOTE_INTERVAL=1", "EDGEIMG_PROMOTE_TIMEOUT=120")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The node registers a while after the API server answers.
	select {
	case err := <-done:
		t.Fatalf("the promoter finished before the node registered (%v):\n%s", err, out.String())
	case <-time.After(5 * time.Second):
	}
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("promoter: %v\n%s", err, out.String())
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, "edge-late", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["tier"] != "edge" || n.Labels["example.com/site"] != "lab" {
		t.Errorf("node labels %v, want the device file's tier=edge, example.com/site=lab; promoter log:\n%s", n.Labels, out.String())
	}
}
