package bundle

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/plan"
)

// fit computes the plan from every container and writes it back.
func (r *renderer) fit(system []plan.Workload) error {
	var ws []plan.Workload
	for _, st := range r.res.Bundle.Stacks {
		for _, f := range st.Files {
			for _, o := range f.Objects {
				w, err := workloadsOf(o, st.source)
				if err != nil {
					return err
				}
				ws = append(ws, w...)
			}
		}
	}
	queueCPU, err := r.queueProxyCPURequest()
	if err != nil {
		return err
	}
	for i, svc := range r.spec.Services {
		ws = append(ws, serviceWorkloads(i, svc, queueCPU, r.knative)...)
	}
	for _, w := range system {
		w.Adjustable = false
		ws = append(ws, w)
	}
	p, err := plan.Compute(plan.Input{Node: r.spec.Node, Resources: r.spec.Resources, Workloads: ws, Services: serviceBounds(r.spec.Services)})
	if err != nil {
		return err
	}
	r.res.Plan = p
	if err := r.capServices(p); err != nil {
		return err
	}
	for _, st := range r.res.Bundle.Stacks {
		for _, f := range st.Files {
			for _, o := range f.Objects {
				where := st.Name + "/" + f.Name + ": " + o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
				err := forEachContainer(o, func(c map[string]any, _ containerList) error {
					name, _ := c["name"].(string)
					w, ok := p.Lookup(o.GetNamespace(), o.GetName(), name)
					if !ok || !w.Adjustable {
						return nil
					}
					var what []string
					if w.Requests != w.OriginalRequests {
						what = append(what, "requests "+fmtRes(w.OriginalRequests)+" → "+fmtRes(w.Requests))
					}
					if w.Limits != w.OriginalLimits {
						what = append(what, "limits "+fmtRes(w.OriginalLimits)+" → "+fmtRes(w.Limits))
					}
					if len(what) > 0 {
						r.change(where, "container %s: %s", name, strings.Join(what, ", "))
					}
					return setResources(c, w)
				})
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func fmtRes(r plan.Resources) string {
	c, m := "-", "-"
	if r.CPUMilli > 0 {
		c = formatQuantity("cpu", r.CPUMilli)
	}
	if r.MemoryBytes > 0 {
		m = formatQuantity("memory", r.MemoryBytes)
	}
	return c + "/" + m
}

// queueProxyCPURequest reads config-deployment's queue-sidecar-cpu-request
// (Knative's default, 25m, when the key is absent).
func (r *renderer) queueProxyCPURequest() (int64, error) {
	cm := r.find("", "ConfigMap", "knative-serving", "config-deployment")
	if cm == nil {
		return 25, nil
	}
	v, found, _ := unstructured.NestedString(cm.Object, "data", "queue-sidecar-cpu-request")
	if !found || v == "" {
		return 25, nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, fmt.Errorf("config-deployment queue-sidecar-cpu-request %q: %w", v, err)
	}
	return q.MilliValue(), nil
}
