package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// Knative Serving's resources the harnesses read.
var (
	KsvcGVR     = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	RevisionGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
)

// Clients are the API clients of a test: typed, dynamic, and a REST
// mapper that learns kinds as their CRDs appear.
type Clients struct {
	CS     kubernetes.Interface
	Dyn    dynamic.Interface
	Mapper *restmapper.DeferredDiscoveryRESTMapper
}

// New makes the clients of cfg.
func New(t testing.TB, cfg *rest.Config) *Clients {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Clients{CS: cs, Dyn: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// Created is when an object was created, and which one.
type Created struct {
	At   time.Time
	What string
}

// MissingObjects lists the bundle's objects (live and staged stacks) the
// API server does not have, and the latest creation of those it has, per
// stack.
func (c *Clients) MissingObjects(ctx context.Context, b *bundle.Bundle) (missing []string, latest map[string]Created) {
	latest = map[string]Created{}
	reset := false
	for _, o := range b.Objects() {
		gvk := o.Obj.GroupVersionKind()
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				reset = true
			}
			missing = append(missing, o.Where()+" (no such kind yet)")
			continue
		}
		var ri dynamic.ResourceInterface = c.Dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = c.Dyn.Resource(m.Resource).Namespace(o.Obj.GetNamespace())
		}
		got, err := ri.Get(ctx, o.Obj.GetName(), metav1.GetOptions{})
		if err != nil {
			missing = append(missing, o.Where()+": "+err.Error())
			continue
		}
		if ct := got.GetCreationTimestamp().Time; ct.After(latest[o.Stack].At) {
			latest[o.Stack] = Created{At: ct, What: o.Obj.GetKind() + " " + o.Obj.GetName()}
		}
	}
	if reset {
		c.Mapper.Reset()
	}
	return missing, latest
}

// Latest is the latest of the per-stack creations.
func Latest(per map[string]Created) time.Time {
	var t time.Time
	for _, c := range per {
		if c.At.After(t) {
			t = c.At
		}
	}
	return t
}

// ConditionTime is when a Knative condition last changed.
func ConditionTime(o *unstructured.Unstructured, typ string) (time.Time, error) {
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

// Condition is a Knative condition's status ("" when absent) and message.
func Condition(o *unstructured.Unstructured, typ string) (status, message string) {
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

// PodReady is a Running pod with every container ready.
func PodReady(p *corev1.Pod) bool {
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

// PodSummary is a pod's phase with what its containers wait on and its
// conditions that are not true.
func PodSummary(p *corev1.Pod) string {
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

// Events lists events of these reasons in every namespace.
func (c *Clients) Events(ctx context.Context, reasons ...string) []string {
	evs, err := c.CS.CoreV1().Events("").List(ctx, metav1.ListOptions{})
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

// ActivatorRequest sends GET / for a Revision to Knative's activator
// Service, with the headers the activator routes by (what Kourier's
// gateway does for a Revision without ready pods), over hc: the caller's
// client reaches the cluster's Service addresses (from inside the node's
// network namespace, or through the device's SSH connection).
func (c *Clients) ActivatorRequest(ctx context.Context, hc *http.Client, ns, revision string) (int, string, error) {
	svc, err := c.CS.CoreV1().Services("knative-serving").Get(ctx, "activator-service", metav1.GetOptions{})
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
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body), err
}

// Poll calls f every interval until it reports done, returning f's last
// note when ctx ends first.
func Poll(ctx context.Context, interval time.Duration, f func() (done bool, note string)) error {
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
