//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
)

// BenchmarkEdgeStart measures a node's first start, from the moment k0s is
// started: the apiserver ready, the node Ready, every object of every stack
// applied (the staged ones promoted) and the hello Knative Service Ready,
// with the images preloaded into containerd's store ("preloaded") and with
// the same images as one OCI-layout tar in <data-dir>/images that k0s
// imports ("bundle"), and preloaded again with the whole cluster capped at
// the plan's node, 1 CPU of time and 1536 MiB ("preloaded-plan-node").
// Once hello has scaled to zero it measures the idle
// node's memory: the pods' working sets plus the RSS (and PSS) of every
// process outside the pods. Run with -benchtime=1x (hack/bench/e2e.sh).
func BenchmarkEdgeStart(b *testing.B) {
	for _, mode := range []struct {
		name     string
		bundle   bool
		planNode bool
	}{{"preloaded", false, false}, {"bundle", true, false}, {"preloaded-plan-node", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			var api, node, stacks, hello, podsMiB, rssMiB, pssMiB, oom float64
			for i := 0; i < b.N; i++ {
				e := startEdge(b, edgeOptions{bundle: mode.bundle, planNode: mode.planNode})
				c := cluster.New(b, e.k.Config)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
				api += e.k.APIServerReady.Seconds()
				node += e.k.NodeReady.Seconds()
				stacks += e.waitStacks(ctx, b, c).Seconds()
				_, ready := e.waitService(ctx, b, c, "default", "hello")
				hello += ready.Seconds()
				if mode.bundle {
					if n, _ := e.k0sLogCount("Imported image"); n == 0 {
						b.Errorf("bundle mode: k0s imported no image")
					}
				}
				m := e.idleMemory(ctx, b, c)
				podsMiB += float64(m.podsTotal()) / (1 << 20)
				rssMiB += float64(m.Total()) / (1 << 20)
				pssMiB += float64(m.TotalPSS()) / (1 << 20)
				// Printed, not logged: a benchmark's log is cut short.
				fmt.Printf("idle node (%s):\n%s", mode.name, memoryTable(m))
				kills, err := e.oomKills()
				if err != nil {
					b.Fatal(err)
				}
				oom += float64(kills)
				cancel()
				e.stop()
			}
			n := float64(b.N)
			b.ReportMetric(api/n, "s-apiserver-ready")
			b.ReportMetric(node/n, "s-node-ready")
			b.ReportMetric(stacks/n, "s-stacks-applied")
			b.ReportMetric(hello/n, "s-hello-ready")
			b.ReportMetric(podsMiB/n, "MiB-pods")
			b.ReportMetric(rssMiB/n, "MiB-node-rss")
			b.ReportMetric(pssMiB/n, "MiB-node-pss")
			b.ReportMetric(oom/n, "oom-kills")
		})
	}
}

// idleMemory waits for every pod to be Running and Ready, hello to have
// scaled to zero and 15 s more, then measures the node's memory.
func (e *edge) idleMemory(ctx context.Context, t testing.TB, c *cluster.Clients) nodeMemory {
	t.Helper()
	if err := cluster.Poll(ctx, time.Second, func() (bool, string) {
		list, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for i := range list.Items {
			p := &list.Items[i]
			if p.Labels["serving.knative.dev/service"] != "" {
				return false, "hello pod " + p.Name + " still there"
			}
			if !cluster.PodReady(p) && p.Status.Phase != corev1.PodSucceeded {
				return false, cluster.PodSummary(p)
			}
		}
		return true, ""
	}); err != nil {
		t.Fatalf("node not idle: %v", err)
	}
	time.Sleep(15 * time.Second)
	m, err := e.measureMemory(ctx, c)
	if err != nil {
		t.Fatalf("memory: %v", err)
	}
	return m
}

// stop stops the promoter and the node (t.Cleanup would, at the end of the
// benchmark; iterations must not overlap).
func (e *edge) stop() {
	e.promoter.Stop(5 * time.Second)
	e.k.Stop()
}
