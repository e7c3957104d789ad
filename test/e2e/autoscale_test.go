//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// The autoscale scenario: Knative's autoscale sample on the fitted node.
const (
	autoscaleService = "autoscale"
	autoscaleTarget  = 10
	// autoscaleSleep is each request's work (the app's ?sleep=): at
	// loadFactor × the target in flight, the rate is that over the sleep.
	autoscaleSleep = time.Second
	loadFactor     = 3
	loadDuration   = 60 * time.Second
)

// podAutoscalerGVR is Knative's PodAutoscaler (the KPA), one per Revision.
var podAutoscalerGVR = schema.GroupVersionResource{Group: "autoscaling.internal.knative.dev", Version: "v1alpha1", Resource: "podautoscalers"}

// TestAutoscale puts load on a Knative Service on the plan's node (the
// whole cluster capped at the node's CPU and memory): the service is the
// test app built from source here (testdata/testimage, which answers
// ?sleep=, ?prime= and ?bloat= like Knative's autoscale sample) with
// target 10, minScale 0 and no maxScale, so the plan derives its cap.
// After one request from zero (the cold start, logged), vegeta's library
// sends about 3× the target in flight for 60 s.
//
// The data path: Kourier does not run here (package doc), so the load goes
// where Kourier's gateway sends a Revision's requests while the activator
// is in the path: to Knative's activator Service, with the route's Host
// header and the Knative-Serving-Namespace/-Revision headers the gateway
// adds. The activator and queue-proxy are real; the Kourier stand-in
// routes nothing.
//
// It requires: zero failed requests; the KPA's desired scale above 1 and
// never above the plan's cap (nor the pods); no OOM kill in the cluster's
// cgroup and no eviction; the cluster's memory under the node's; and the
// Revision back at min scale (zero) within the scale-down window after.
func TestAutoscale(t *testing.T) {
	e := startEdge(t, edgeOptions{planNode: true, spec: func(d *spec.Document) error {
		zero, target := 0, float64(autoscaleTarget)
		d.Spec.Services = append(d.Spec.Services, spec.Service{
			Name: autoscaleService, Namespace: "default", Image: "ghcr.io/knative/helloworld-go:latest",
			Env: map[string]string{"TARGET": autoscaleService}, MinScale: &zero, Target: &target,
			Requests: spec.ResourceList{CPU: spec.MustQuantity("20m"), Memory: spec.MustQuantity("16Mi")},
		})
		return nil
	}})
	c := cluster.New(t, e.k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Registered after startEdge's: runs while the cluster still does.
	t.Cleanup(func() {
		if t.Failed() {
			diagnose(t, c, e.k.Log)
		}
	})
	e.waitStacks(ctx, t, c)
	e.waitPromoter(ctx, t)
	ksvc, _ := e.waitService(ctx, t, c, "default", autoscaleService)

	// The plan's cap, rendered.
	var sc *plan.ServiceScale
	for i, s := range e.r.Plan.MaxScale.Services {
		if s.Name == autoscaleService {
			sc = &e.r.Plan.MaxScale.Services[i]
		}
	}
	if sc == nil || !sc.Derived {
		t.Fatalf("the plan has no derived cap for %s: %+v", autoscaleService, e.r.Plan.MaxScale)
	}
	t.Logf("plan: %s max scale %d (derived), pod requests %dm / %d MiB; %s", autoscaleService, sc.Max, sc.Pod.CPUMilli, sc.Pod.MemoryBytes>>20, e.r.Plan.MaxScaleVerdict())
	if sc.Max < 2 {
		t.Fatalf("the plan's cap for %s is %d: the scenario needs room for 2 pods or more", autoscaleService, sc.Max)
	}
	ann, _, _ := unstructured.NestedStringMap(ksvc.Object, "spec", "template", "metadata", "annotations")
	if ann[bundle.AnnotationMaxScale] != strconv.Itoa(sc.Max) || ann[bundle.AnnotationTarget] != strconv.Itoa(autoscaleTarget) {
		t.Fatalf("Service annotations %v: want max-scale %d and target %d", ann, sc.Max, autoscaleTarget)
	}
	rev, _, _ := unstructured.NestedString(ksvc.Object, "status", "latestReadyRevisionName")
	routeURL, _, _ := unstructured.NestedString(ksvc.Object, "status", "url")
	u, err := url.Parse(routeURL)
	if err != nil || u.Host == "" {
		t.Fatalf("Service status.url %q: %v", routeURL, err)
	}
	selector := "serving.knative.dev/revision=" + rev
	scaled := func() (desired, actual int64, pods int, err error) {
		pa, err := c.Dyn.Resource(podAutoscalerGVR).Namespace("default").Get(ctx, rev, metav1.GetOptions{})
		if err != nil {
			return 0, 0, 0, err
		}
		desired, _, _ = unstructured.NestedInt64(pa.Object, "status", "desiredScale")
		actual, _, _ = unstructured.NestedInt64(pa.Object, "status", "actualScale")
		list, err := c.CS.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return 0, 0, 0, err
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				pods++
			}
		}
		return desired, actual, pods, nil
	}
	// From min scale (zero) before the load.
	if err := cluster.Poll(ctx, time.Second, func() (bool, string) {
		d, a, n, err := scaled()
		return err == nil && d == 0 && n == 0, fmt.Sprintf("desired %d, actual %d, %d pods, %v", d, a, n, err)
	}); err != nil {
		t.Fatalf("revision %s not at zero before the load: %v", rev, err)
	}
	oomBefore, err := e.oomKills()
	if err != nil {
		t.Fatal(err)
	}
	memCgroup, v2, err := e.memoryCgroup()
	if err != nil {
		t.Fatal(err)
	}

	// Sample the KPA, the pods and the cluster's memory every second.
	var mu sync.Mutex
	var maxDesired, maxActual int64
	var maxPods int
	var maxMemory int64
	sample := func() {
		d, a, n, err := scaled()
		ws, werr := workingSet(memCgroup, v2)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			maxDesired, maxActual, maxPods = max(maxDesired, d), max(maxActual, a), max(maxPods, n)
		}
		if werr == nil {
			maxMemory = max(maxMemory, ws)
		}
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			sample()
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Second):
			}
		}
	}()

	target, err := activatorTarget(ctx, c, u.Host, "default", rev, autoscaleSleep)
	if err != nil {
		t.Fatal(err)
	}
	// One request from zero first: the cold start, apart from the load.
	transport := netnsTransport(e.k.NetNS)
	req, err := target.Request()
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Now()
	resp, err := (&http.Client{Transport: transport, Timeout: 5 * time.Minute}).Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("the first request (from zero): %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the first request (from zero): %s", resp.Status)
	}
	t.Logf("first request from zero answered in %s", time.Since(cold).Round(time.Millisecond))

	rate := vegeta.Rate{Freq: loadFactor * autoscaleTarget, Per: autoscaleSleep}
	attacker := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport, Timeout: 2 * time.Minute}),
		vegeta.Workers(uint64(loadFactor*autoscaleTarget)), vegeta.MaxWorkers(uint64(4*loadFactor*autoscaleTarget)),
		vegeta.Redirects(vegeta.NoFollow))
	var m vegeta.Metrics
	start := time.Now()
	for res := range attacker.Attack(vegeta.NewStaticTargeter(target), rate, loadDuration, "autoscale") {
		m.Add(res)
	}
	m.Close()
	close(stopSampling)
	<-sampled
	t.Logf("load: %d requests over %s (%d in flight aimed at, %d ms each), %.1f req/s answered, success %.4f, status codes %v; latency p50 %s p95 %s p99 %s max %s",
		m.Requests, time.Since(start).Round(time.Second), loadFactor*autoscaleTarget, autoscaleSleep.Milliseconds(), m.Throughput, m.Success, m.StatusCodes,
		m.Latencies.P50.Round(time.Millisecond), m.Latencies.P95.Round(time.Millisecond), m.Latencies.P99.Round(time.Millisecond), m.Latencies.Max.Round(time.Millisecond))
	t.Logf("KPA: desired scale up to %d, actual up to %d, pods up to %d (cap %d); the cluster's memory up to %d MiB (node %d MiB, the plan's expected memory at max scale %d MiB)",
		maxDesired, maxActual, maxPods, sc.Max, maxMemory>>20, e.r.Plan.Node.MemoryBytes>>20, e.r.Plan.MaxScale.ExpectedMemoryBytes>>20)
	if m.Success != 1 || len(m.Errors) > 0 {
		t.Errorf("failed requests: success ratio %.4f, status codes %v, errors %v", m.Success, m.StatusCodes, m.Errors)
	}
	if maxDesired <= 1 {
		t.Errorf("the KPA's desired scale never rose above 1 (up to %d) under %d× the target", maxDesired, loadFactor)
	}
	if maxDesired > int64(sc.Max) || maxPods > sc.Max {
		t.Errorf("desired scale up to %d, pods up to %d: above the max scale %d", maxDesired, maxPods, sc.Max)
	}
	if oom, err := e.oomKills(); err != nil || oom != oomBefore {
		t.Errorf("OOM kills in the cluster's cgroup: %d before the load, %d after (%v)", oomBefore, oom, err)
	}
	if maxMemory >= e.r.Plan.Node.MemoryBytes {
		t.Errorf("the cluster's memory reached %d MiB, the node's %d MiB", maxMemory>>20, e.r.Plan.Node.MemoryBytes>>20)
	}
	evictions(ctx, t, c)

	// Back at min scale within the scale-down window (the test's
	// config-autoscaler: 6 s stable window, 6 s grace period).
	after := time.Now()
	down, cancelDown := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelDown()
	if err := cluster.Poll(down, time.Second, func() (bool, string) {
		d, a, n, err := scaled()
		return err == nil && d == 0 && n == 0, fmt.Sprintf("desired %d, actual %d, %d pods, %v", d, a, n, err)
	}); err != nil {
		t.Errorf("revision %s not back at zero: %v", rev, err)
	} else {
		t.Logf("back at zero %s after the load", time.Since(after).Round(time.Second))
	}
}

// activatorTarget is a GET of the app's ?sleep= for a Revision sent to
// Knative's activator Service with the route's Host header and the headers
// the activator routes by.
func activatorTarget(ctx context.Context, c *cluster.Clients, host, ns, revision string, sleep time.Duration) (vegeta.Target, error) {
	svc, err := c.CS.CoreV1().Services("knative-serving").Get(ctx, "activator-service", metav1.GetOptions{})
	if err != nil {
		return vegeta.Target{}, err
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return vegeta.Target{
				Method: http.MethodGet,
				URL:    fmt.Sprintf("http://%s/?sleep=%d", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port))), sleep.Milliseconds()),
				Header: http.Header{"Host": {host}, "Knative-Serving-Namespace": {ns}, "Knative-Serving-Revision": {revision}},
			}, nil
		}
	}
	return vegeta.Target{}, fmt.Errorf("activator-service has no http port: %+v", svc.Spec.Ports)
}

// diagnose logs the pods that are not ready and the events that say why,
// for a failed run.
func diagnose(t *testing.T, c *cluster.Clients, k0sLog string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("diagnostics: list pods: %v (k0s's log: %s)", err, k0sLog)
		return
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; !cluster.PodReady(p) {
			t.Logf("diagnostics: not ready: %s", cluster.PodSummary(p))
		}
	}
	for _, ev := range c.Events(ctx, "BackOff", "Unhealthy", "OOMKilling", "Evicted", "FailedScheduling", "Killing", "Preempted") {
		t.Logf("diagnostics: event: %s", ev)
	}
}

// evictions fails the test for any pod evicted or Evicted event.
func evictions(ctx context.Context, t *testing.T, c *cluster.Clients) {
	t.Helper()
	pods, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Reason == "Evicted" {
			t.Errorf("pod %s/%s evicted: %s", p.Namespace, p.Name, p.Status.Message)
		}
	}
	events, err := c.CS.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=Evicted"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		t.Errorf("eviction: %s %s/%s: %s", ev.InvolvedObject.Kind, ev.InvolvedObject.Namespace, ev.InvolvedObject.Name, ev.Message)
	}
}

// netnsTransport dials inside the node's network namespace (where Service
// addresses are routed) and keeps connections alive, as a load generator's
// client does.
func netnsTransport(netns string) *http.Transport {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread stays locked and in the namespace: the runtime
			// discards it when this goroutine ends.
			runtime.LockOSThread()
			fd, err := unix.Open("/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{nil, fmt.Errorf("open netns %s: %w", netns, err)}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", netns, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 4 * loadFactor * autoscaleTarget, IdleConnTimeout: 30 * time.Second}
}
