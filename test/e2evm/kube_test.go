//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
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

// clients are the API clients of the device, over the forwarded port.
type clients struct {
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newClients(t testing.TB, cfg *rest.Config) *clients {
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
	return &clients{cs: cs, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// missingObjects lists the bundle's objects (live and staged stacks) the
// API server does not have, and the latest creation time of those it has.
func (c *clients) missingObjects(ctx context.Context, b *bundle.Bundle) (missing []string, latest time.Time) {
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
		if ct := got.GetCreationTimestamp().Time; ct.After(latest) {
			latest = ct
		}
	}
	if reset {
		c.mapper.Reset()
	}
	return missing, latest
}

var ksvcGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}

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

func podSummary(p *corev1.Pod) string {
	s := p.Namespace + "/" + p.Name + ": " + string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			s += "; " + c.Name + " waiting: " + w.Reason + " " + w.Message
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

// podStates counts the pods by state: Ready, or the reason their first
// waiting container gives (CreateContainerError, ...), or their phase.
func (c *clients) podStates(ctx context.Context) string {
	list, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	n := map[string]int{}
	for _, p := range list.Items {
		st := string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				st = w.Reason
				if w.Message != "" {
					st += " (" + w.Message + ")"
				}
				break
			}
		}
		if st == string(corev1.PodRunning) {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					st = "Ready"
				}
			}
		}
		n[st]++
	}
	var out []string
	for st, k := range n {
		out = append(out, fmt.Sprintf("%d %s", k, st))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
