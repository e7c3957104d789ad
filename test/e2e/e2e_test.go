//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
)

// helloBody is what the hello app (testdata/testimage) answers with the
// spec's TARGET.
const helloBody = "Hello edgeimg!\n"

// TestEdgeStack runs the rendered, pinned and preloaded stack on a real k0s
// node and checks the product's promise: nothing imported or pulled at
// start, every stack applied (the webhook-guarded ones through the
// promoter), every pod running within the plan's requests on a node with
// the plan's allocatable, the hello Knative Service Ready, scaled to zero
// and back on a request.
//
// Kourier does not run here (see package doc): its two pods are stand-ins
// that route nothing and mark KIngresses Ready, so the hello Service's
// Route becomes Ready without Kourier ever being exercised, and the
// request reaches the Revision through Knative's activator directly.
func TestEdgeStack(t *testing.T) {
	e := startEdge(t, edgeOptions{})
	c := cluster.New(t, e.k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	since := func() time.Duration { return time.Since(e.k.Start).Round(100 * time.Millisecond) }
	t.Logf("apiserver ready %s, node Ready %s after k0s start", e.k.APIServerReady.Round(100*time.Millisecond), e.k.NodeReady.Round(100*time.Millisecond))

	// The node: the plan's allocatable.
	node := e.node(ctx, t, c)
	pl := e.r.Plan
	if got, want := node.Status.Allocatable.Cpu().MilliValue(), pl.Node.AllocatableCPUMilli; got != want {
		t.Errorf("node allocatable CPU %dm, the plan's %dm", got, want)
	}
	if got, want := node.Status.Allocatable.Memory().Value(), pl.Node.AllocatableMemoryBytes; got != want {
		t.Errorf("node allocatable memory %d, the plan's %d", got, want)
	}

	// Every object of every stack, the staged ones once promoted.
	applied := e.waitStacks(ctx, t, c)
	var staged []string
	for _, o := range e.r.Bundle.Objects() {
		if o.Staged {
			staged = append(staged, o.Obj.GetKind()+" "+o.Obj.GetNamespace()+"/"+o.Obj.GetName())
		}
	}
	t.Logf("every object of every stack applied %s after k0s start (%d live stacks, %d staged stacks with %s)",
		applied.Round(100*time.Millisecond), len(e.r.Bundle.Stacks), len(e.r.Bundle.Staged), strings.Join(staged, ", "))
	e.waitPromoter(ctx, t)
	// What k0s's manifest deployer retried (a stack is re-applied after a
	// failed object, with a back-off).
	if lines, err := e.k0sLogLines("component=applier", "level=warning"); err == nil && len(lines) > 0 {
		t.Logf("k0s applier warnings (%d), the first ones:\n%s", len(lines), strings.Join(head(lines, 8), "\n"))
	}

	// The hello Knative Service.
	ksvc, ready := e.waitService(ctx, t, c, "default", "hello")
	readyAt := e.k.Start.Add(ready)
	t.Logf("Knative Service hello Ready %s after k0s start (its Route through the Kourier stand-in)", ready.Round(100*time.Millisecond))
	rev, _, _ := unstructured.NestedString(ksvc.Object, "status", "latestReadyRevisionName")
	r, err := c.Dyn.Resource(cluster.RevisionGVR).Namespace("default").Get(ctx, rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, msg := cluster.Condition(r, "Ready"); st != "True" {
		t.Errorf("Revision %s: Ready %q: %s", rev, st, msg)
	}
	for _, cond := range []string{"ConfigurationsReady", "RoutesReady"} {
		if st, msg := cluster.Condition(ksvc, cond); st != "True" {
			t.Errorf("Knative Service hello: %s %q: %s", cond, st, msg)
		}
	}

	// Every pod Running within the plan's requests, none Pending.
	seen := map[string]bool{}
	checkPods := func(pods []corev1.Pod) {
		for i := range pods {
			ids, errs := checkRequests(ctx, c, &pods[i], pl)
			for _, id := range ids {
				seen[id] = true
			}
			for _, err := range errs {
				t.Error(err)
			}
		}
	}
	var pods []corev1.Pod
	if err := cluster.Poll(ctx, 2*time.Second, func() (bool, string) {
		list, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		var waiting []string
		for i := range pods {
			if pods[i].Labels["serving.knative.dev/service"] != "" {
				continue // scales on its own; checked below
			}
			if !cluster.PodReady(&pods[i]) {
				waiting = append(waiting, cluster.PodSummary(&pods[i]))
			}
		}
		return len(waiting) == 0, strings.Join(waiting, " | ")
	}); err != nil {
		t.Fatalf("pods not Running and Ready: %v", err)
	}
	t.Logf("every pod Running and Ready %s after k0s start; each Ready at (from k0s start, ±0.5 s): %s", since(), podsReadyAt(e, pods))
	checkPods(pods)
	for _, p := range pods {
		if p.Status.Phase == corev1.PodPending {
			t.Errorf("pod %s/%s Pending", p.Namespace, p.Name)
		}
	}
	// Pods applied before the node registered or became Ready fail to
	// schedule for that ("no nodes available", the not-ready taint); a
	// pod that does not fit the node's allocatable is a failure.
	for _, ev := range c.Events(ctx, "FailedScheduling") {
		if strings.Contains(ev, "Insufficient") {
			t.Errorf("scheduling failure: %s", ev)
		}
	}
	// MetalLB's controller gave Kourier's LoadBalancer Service the address
	// the bundle pinned it to, from the staged IPAddressPool.
	if err := cluster.Poll(ctx, time.Second, func() (bool, string) {
		svc, err := c.CS.CoreV1().Services("kourier-system").Get(ctx, "kourier", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP == e.r.LBAddress {
				return true, ""
			}
		}
		return false, fmt.Sprintf("load balancer status %+v", svc.Status.LoadBalancer.Ingress)
	}); err != nil {
		t.Errorf("MetalLB did not assign %s to kourier-system/kourier: %v", e.r.LBAddress, err)
	}

	helloPods := func() []corev1.Pod {
		list, err := c.CS.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/revision=" + rev})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	checkPods(helloPods())

	// Nothing imported, nothing pulled: the preloaded store is used as is.
	e.checkNoImports(ctx, t, c)

	// Scale to zero after the (shortened) stable window.
	if err := cluster.Poll(ctx, time.Second, func() (bool, string) {
		ps := helloPods()
		checkPods(ps)
		return len(ps) == 0, fmt.Sprintf("%d hello pods", len(ps))
	}); err != nil {
		t.Fatalf("hello did not scale to zero: %v", err)
	}
	t.Logf("hello scaled to zero (seen %s after it was Ready)", time.Since(readyAt).Round(time.Second))

	// Back from zero on a request through the activator.
	start := time.Now()
	code, body, err := e.activatorRequest(ctx, c, "default", rev)
	if err != nil {
		t.Fatalf("request through the activator: %v", err)
	}
	if code != 200 || body != helloBody {
		t.Fatalf("request through the activator: %d %q, want 200 %q", code, body, helloBody)
	}
	t.Logf("hello answered %q through the activator %s after the request, from zero pods", strings.TrimSpace(body), time.Since(start).Round(time.Millisecond))
	ps := helloPods()
	if len(ps) == 0 {
		t.Errorf("no hello pod after the request from zero")
	}
	checkPods(ps)
	for _, w := range pl.Workloads {
		if !seen[w.ID()] {
			t.Errorf("the plan's %s (%s) never ran", w.ID(), w.Source)
		}
	}
	e.checkNoImports(ctx, t, c)
	for _, cond := range e.node(ctx, t, c).Status.Conditions {
		if cond.Type != corev1.NodeReady && cond.Status != corev1.ConditionFalse {
			t.Errorf("node condition %s: %s: %s", cond.Type, cond.Reason, cond.Message)
		}
	}
	if evs := c.Events(ctx, "Evicted"); len(evs) > 0 {
		t.Errorf("evictions:\n%s", strings.Join(evs, "\n"))
	}

	// Working sets per component.
	mem, err := e.measureMemory(ctx, c)
	if err != nil {
		t.Fatalf("memory: %v", err)
	}
	if ms, err := e.waitMetricsServer(ctx, c); err != nil {
		t.Logf("metrics-server: %v (working sets from the pods' cgroups only)", err)
	} else {
		mem.MetricsServer = ms
	}
	logMemory(t, "memory with one hello pod", mem)
	if len(mem.Pods) == 0 || mem.Processes["kube-apiserver"] == 0 || mem.Processes["kubelet"] == 0 {
		t.Errorf("memory measure incomplete: %+v", mem)
	}
}

// waitStacks waits until the API server has every object of every stack,
// live and staged, and returns when the last one was created, from k0s's
// start (the API server's creation times have a resolution of a second).
func (e *edge) waitStacks(ctx context.Context, t testing.TB, c *cluster.Clients) time.Duration {
	t.Helper()
	var latest map[string]cluster.Created
	if err := cluster.Poll(ctx, time.Second, func() (bool, string) {
		var m []string
		m, latest = c.MissingObjects(ctx, e.r.Bundle)
		return len(m) == 0, fmt.Sprintf("%d objects missing, e.g. %v", len(m), head(m, 5))
	}); err != nil {
		t.Fatalf("stacks not applied: %v", err)
	}
	var last time.Time
	var stacks []string
	for name, cr := range latest {
		stacks = append(stacks, fmt.Sprintf("%s %.1fs (%s)", name, sinceStart(e, cr.At).Seconds(), cr.What))
		if cr.At.After(last) {
			last = cr.At
		}
	}
	sort.Strings(stacks)
	t.Logf("stacks applied (last object created, from k0s start, ±0.5 s): %s", strings.Join(stacks, ", "))
	return sinceStart(e, last)
}

// sinceStart is the time from k0s's start to ts, a server time stamp in
// whole seconds: the event happened in [ts, ts+1s), so the middle of that
// second is taken (±0.5 s).
func sinceStart(e *edge, ts time.Time) time.Duration {
	return ts.Add(500 * time.Millisecond).Sub(e.k.Start)
}

// waitService waits for a Knative Service to be Ready and returns it and
// the time since k0s started.
func (e *edge) waitService(ctx context.Context, t testing.TB, c *cluster.Clients, ns, name string) (*unstructured.Unstructured, time.Duration) {
	t.Helper()
	var ksvc *unstructured.Unstructured
	if err := cluster.Poll(ctx, 500*time.Millisecond, func() (bool, string) {
		var err error
		ksvc, err = c.Dyn.Resource(cluster.KsvcGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st, msg := cluster.Condition(ksvc, "Ready")
		return st == "True", msg
	}); err != nil {
		t.Fatalf("Knative Service %s/%s not Ready: %v", ns, name, err)
	}
	ts, err := cluster.ConditionTime(ksvc, "Ready")
	if err != nil {
		t.Fatalf("Knative Service %s/%s: %v", ns, name, err)
	}
	return ksvc, sinceStart(e, ts)
}

// node is the cluster's one node.
func (e *edge) node(ctx context.Context, t testing.TB, c *cluster.Clients) *corev1.Node {
	t.Helper()
	nodes, err := c.CS.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("%d nodes, want 1", len(nodes.Items))
	}
	n := &nodes.Items[0]
	t.Logf("node %s: capacity %s CPU / %s, allocatable %s CPU / %s", n.Name,
		n.Status.Capacity.Cpu(), n.Status.Capacity.Memory(), n.Status.Allocatable.Cpu(), n.Status.Allocatable.Memory())
	return n
}

// checkNoImports checks that k0s imported nothing and nothing was pulled:
// containerd's content store holds exactly the blobs written before the
// start, k0s's log has no OCI bundle import, <data-dir>/images is empty and
// no pod event reports a pull.
func (e *edge) checkNoImports(ctx context.Context, t testing.TB, c *cluster.Clients) {
	t.Helper()
	after, err := contentBlobs(e.k.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, e.contentBefore) {
		t.Errorf("containerd's content store changed while k0s ran: %d blobs before, %d after", len(e.contentBefore), len(after))
	}
	for _, s := range []string{"Loading OCI bundle /", "Imported image"} {
		if n, err := e.k0sLogCount(s); err != nil || n > 0 {
			t.Errorf("k0s log: %d lines with %q (%v)", n, s, err)
		}
	}
	if entries, err := os.ReadDir(e.k.DataDir + "/images"); err != nil || len(entries) > 0 {
		t.Errorf("<data-dir>/images: %d entries (%v), want none", len(entries), err)
	}
	if evs := c.Events(ctx, "Pulling", "Failed", "ErrImageNeverPull"); len(evs) > 0 {
		t.Errorf("image pulls or failures:\n%s", strings.Join(evs, "\n"))
	}
}

// waitMetricsServer waits up to 90 s for metrics-server's pod metrics.
func (e *edge) waitMetricsServer(ctx context.Context, c *cluster.Clients) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var out map[string]int64
	err := cluster.Poll(ctx, 5*time.Second, func() (bool, string) {
		var err error
		out, err = metricsServerPods(ctx, c)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return out, err
}

// podsReadyAt lists when each pod became Ready, earliest first.
func podsReadyAt(e *edge, pods []corev1.Pod) string {
	type at struct {
		name string
		d    time.Duration
	}
	var ats []at
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				name := p.Namespace + "/" + p.Name
				if i := strings.LastIndex(name, "-"); i > 0 {
					name = name[:i] // the generated suffix
				}
				ats = append(ats, at{name, sinceStart(e, c.LastTransitionTime.Time)})
			}
		}
	}
	sort.Slice(ats, func(i, j int) bool { return ats[i].d < ats[j].d })
	var out []string
	for _, a := range ats {
		out = append(out, fmt.Sprintf("%s %.0fs", a.name, a.d.Seconds()))
	}
	return strings.Join(out, ", ")
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
