//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/pkg/deploy"
)

// TestDeployedNode puts the payload on the node with pkg/deploy over a
// real sshd (upload-only into k0s's directory: installing a service needs
// the host's systemd, which this sandbox has not), starts the real k0s on
// what arrived, and requires the node Ready, every stack applied (the
// staged ones promoted), the hello Service Ready from the uploaded images
// bundle, and a second deploy to the running node sending nothing.
func TestDeployedNode(t *testing.T) {
	e := startEdge(t, edgeOptions{deploy: true})
	first := e.deployed
	files := len(e.deployOpts.Payload.Files)
	var size int64
	for _, f := range e.deployOpts.Payload.Files {
		size += f.Size
	}
	t.Logf("first deploy: %d files, %.1f MiB sent in %s", first.FilesSent, float64(first.BytesSent)/(1<<20), first.Duration.Round(time.Millisecond))
	if first.FilesSent != files || first.BytesSent != size {
		t.Errorf("first deploy sent %d files, %d bytes; want all %d, %d", first.FilesSent, first.BytesSent, files, size)
	}

	c := cluster.New(t, e.k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Logf("apiserver ready %s, node Ready %s after k0s start", e.k.APIServerReady.Round(100*time.Millisecond), e.k.NodeReady.Round(100*time.Millisecond))
	applied := e.waitStacks(ctx, t, c)
	t.Logf("every object of every stack applied %s after k0s start", applied.Round(100*time.Millisecond))
	e.waitPromoter(ctx, t)
	_, ready := e.waitService(ctx, t, c, "default", "hello")
	t.Logf("Knative Service hello Ready %s after k0s start", ready.Round(100*time.Millisecond))

	// The running node changed nothing deploy put there: a repeat sends
	// nothing (the promoter copies staged stacks, k0s keeps the bundle).
	again, err := deploy.Deploy(ctx, []deploy.Host{e.deployHost}, e.deployOpts)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	r := again[0]
	t.Logf("second deploy: %d files unchanged, %d B sent in %s", r.FilesUnchanged, r.BytesSent, r.Duration.Round(time.Millisecond))
	if r.BytesSent != 0 || r.FilesSent != 0 || r.FilesUnchanged != files {
		t.Errorf("second deploy sent %d files, %d bytes, %d unchanged; want nothing sent, %d unchanged", r.FilesSent, r.BytesSent, r.FilesUnchanged, files)
	}
}
