//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/plan"
)

// clients are the API clients of a test.
type clients struct {
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func (e *edge) clients(t testing.TB) *clients {
	t.Helper()
	cs, err := kubernetes.NewForConfig(e.k.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(e.k.Config)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(e.k.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &clients{cs: cs, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// poll calls f every interval until it reports done, returning f's last
// note when ctx ends first.
func poll(ctx context.Context, interval time.Duration, f func() (done bool, note string)) error {
	var note string
	for {
		var done bool
		if done, note = f(); done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), note)
		case <-time.After(interval):
		}
	}
}

// missingObjects lists the bundle's objects (live and staged stacks) the
// API server does not have, and the latest creation time of those it has,
// per stack.
func (c *clients) missingObjects(ctx context.Context, b *bundle.Bundle) (missing []string, latest map[string]created) {
	latest = map[string]created{}
	reset := false
	for _, o := range b.Objects() {
		gvk := o.Obj.GroupVersionKind()
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				reset = true
			}
			missing = append(missing, o.Where()+" (no such kind yet)")
			continue
		}
		var ri dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = c.dyn.Resource(m.Resource).Namespace(o.Obj.GetNamespace())
		}
		got, err := ri.Get(ctx, o.Obj.GetName(), metav1.GetOptions{})
		if err != nil {
			missing = append(missing, o.Where()+": "+err.Error())
			continue
		}
		if ct := got.GetCreationTimestamp().Time; ct.After(latest[o.Stack].at) {
			latest[o.Stack] = created{at: ct, what: o.Obj.GetKind() + " " + o.Obj.GetName()}
		}
	}
	if reset {
		c.mapper.Reset()
	}
	return missing, latest
}

// created is when an object was created.
type created struct {
	at   time.Time
	what string
}

var ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
var revisionGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}

// conditionTime is when a Knative condition last changed.
func conditionTime(o *unstructured.Unstructured, typ string) (time.Time, error) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			ts, _ := m["lastTransitionTime"].(string)
			return time.Parse(time.RFC3339, ts)
		}
	}
	return time.Time{}, fmt.Errorf("no %s condition", typ)
}

// condition is a Knative condition's status ("" when absent) and message.
func condition(o *unstructured.Unstructured, typ string) (status, message string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ = m["status"].(string)
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return status, strings.TrimSpace(reason + ": " + msg)
		}
	}
	return "", "no " + typ + " condition"
}

// workloadOf names the workload a pod belongs to as the plan does: its
// Deployment or DaemonSet, or the Knative Service of a Revision's pod.
func (c *clients) workloadOf(ctx context.Context, p *corev1.Pod) (string, error) {
	if s := p.Labels["serving.knative.dev/service"]; s != "" {
		return s, nil
	}
	for _, o := range p.OwnerReferences {
		switch o.Kind {
		case "DaemonSet":
			return o.Name, nil
		case "ReplicaSet":
			rs, err := c.cs.AppsV1().ReplicaSets(p.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			for _, ro := range rs.OwnerReferences {
				if ro.Kind == "Deployment" {
					return ro.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s: no Deployment, DaemonSet or Knative Service owns it", p.Namespace, p.Name)
}

// checkRequests compares every container's requests with the plan's.
func (c *clients) checkRequests(ctx context.Context, p *corev1.Pod, pl *plan.Plan) (matched []string, errs []string) {
	name, err := c.workloadOf(ctx, p)
	if err != nil {
		return nil, []string{err.Error()}
	}
	byID := map[string]plan.Workload{}
	for _, w := range pl.Workloads {
		byID[w.ID()] = w
	}
	check := func(ctr corev1.Container) {
		id := p.Namespace + "/" + name + "/" + ctr.Name
		w, ok := byID[id]
		if !ok {
			errs = append(errs, fmt.Sprintf("pod %s/%s container %s: %s is not in the plan", p.Namespace, p.Name, ctr.Name, id))
			return
		}
		cpu := ctr.Resources.Requests.Cpu().MilliValue()
		mem := ctr.Resources.Requests.Memory().Value()
		if cpu != w.Requests.CPUMilli || mem != w.Requests.MemoryBytes {
			errs = append(errs, fmt.Sprintf("%s: requests %dm CPU / %d bytes, the plan says %dm / %d",
				id, cpu, mem, w.Requests.CPUMilli, w.Requests.MemoryBytes))
		}
		matched = append(matched, id)
	}
	for _, ctr := range p.Spec.InitContainers {
		check(ctr)
	}
	for _, ctr := range p.Spec.Containers {
		check(ctr)
	}
	return matched, errs
}

// podReady is a Running pod with every container ready.
func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podSummary(p *corev1.Pod) string {
	s := p.Namespace + "/" + p.Name + ": " + string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			s += "; " + c.Name + " waiting: " + w.Reason + " " + w.Message
		}
		if !c.Ready {
			s += "; " + c.Name + " not ready"
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			s += "; " + string(c.Type) + ": " + c.Message
		}
	}
	return s
}

// events lists events of these reasons in every namespace.
func (c *clients) events(ctx context.Context, reasons ...string) []string {
	evs, err := c.cs.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{"list events: " + err.Error()}
	}
	var out []string
	for _, e := range evs.Items {
		for _, r := range reasons {
			if e.Reason == r {
				out = append(out, fmt.Sprintf("%s %s/%s: %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name, e.Reason, e.Message))
			}
		}
	}
	sort.Strings(out)
	return out
}

// netnsClient is an HTTP client whose connections are made inside the
// node's network namespace, where Service and pod addresses are routed.
func netnsClient(netns string, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread enters the namespace and is never unlocked, so
			// the runtime discards it when this goroutine ends; the socket
			// stays in the namespace it was made in.
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
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// activatorRequest sends GET / for a Revision to Knative's activator
// Service, with the headers the activator routes by (what Kourier's
// gateway does for a Revision without ready pods).
func (e *edge) activatorRequest(ctx context.Context, c *clients, ns, revision string) (int, string, error) {
	svc, err := c.cs.CoreV1().Services("knative-serving").Get(ctx, "activator-service", metav1.GetOptions{})
	if err != nil {
		return 0, "", err
	}
	port := int32(0)
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			port = p.Port
		}
	}
	if port == 0 {
		return 0, "", fmt.Errorf("activator-service has no http port: %+v", svc.Spec.Ports)
	}
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(port)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = revision + "." + ns + ".svc.cluster.local"
	req.Header.Set("Knative-Serving-Namespace", ns)
	req.Header.Set("Knative-Serving-Revision", revision)
	resp, err := netnsClient(e.k.NetNS, 2*time.Minute).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body), err
}

// k0sLogLines returns the lines of k0s's log that contain every one of
// the strings.
func (e *edge) k0sLogLines(all ...string) ([]string, error) {
	b, err := os.ReadFile(e.k.Log)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, s := range all {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out, nil
}

// k0sLogCount counts the lines of k0s's log that contain s.
func (e *edge) k0sLogCount(s string) (int, error) {
	b, err := os.ReadFile(e.k.Log)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), s), nil
}
