package bundle

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// addSpecObjects adds what the spec asks for beyond upstream: the MetalLB
// pool and advertisement, and the user's Knative Services.
func (r *renderer) addSpecObjects() error {
	s := r.spec
	if len(s.MetalLB.Addresses) > 0 {
		pool := obj("metallb.io/v1beta1", "IPAddressPool", "metallb-system", "edgeimg")
		addrs := make([]any, len(s.MetalLB.Addresses))
		for i, a := range s.MetalLB.Addresses {
			addrs[i] = a
		}
		pool.Object["spec"] = map[string]any{"addresses": addrs}
		adv := obj("metallb.io/v1beta1", "L2Advertisement", "metallb-system", "edgeimg")
		adv.Object["spec"] = map[string]any{"ipAddressPools": []any{"edgeimg"}}
		st := &Stack{Name: StackMetalLBConfig, Files: []*File{{Name: "metallb-config.yaml", Objects: []*unstructured.Unstructured{pool, adv}}}, source: "spec.metallb"}
		r.res.Bundle.Stacks = append(r.res.Bundle.Stacks, st)
		for _, o := range st.Files[0].Objects {
			r.seen[keyOf(o)] = st.Name + "/" + st.Files[0].Name
		}
	}
	if len(s.Services) > 0 {
		// A namespace of the user's own is created in a live stack of its
		// own, applied at once, long before the staged services are
		// promoted (default exists; system namespaces are refused by the
		// spec).
		nsFile := &File{Name: "namespaces.yaml"}
		created := map[string]bool{"default": true}
		for _, svc := range s.Services {
			if created[svc.Namespace] {
				continue
			}
			created[svc.Namespace] = true
			ns := obj("v1", "Namespace", "", svc.Namespace)
			k := keyOf(ns)
			if _, dup := r.seen[k]; !dup {
				r.seen[k] = StackNamespaces + "/" + nsFile.Name
				nsFile.Objects = append(nsFile.Objects, ns)
			}
		}
		if len(nsFile.Objects) > 0 {
			r.res.Bundle.Stacks = append(r.res.Bundle.Stacks, &Stack{Name: StackNamespaces, Files: []*File{nsFile}, source: "spec.services[].namespace"})
		}
		f := &File{Name: "services.yaml"}
		for _, svc := range s.Services {
			o := knativeService(svc)
			k := keyOf(o)
			if prev, dup := r.seen[k]; dup {
				return fmt.Errorf("spec.services: %s is already in %s", k, prev)
			}
			r.seen[k] = StackServices + "/" + f.Name
			f.Objects = append(f.Objects, o)
		}
		r.res.Bundle.Stacks = append(r.res.Bundle.Stacks, &Stack{Name: StackServices, Files: []*File{f}, source: "spec.services"})
	}
	return nil
}

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{}}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	o.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "edgeimg"})
	return o
}

// knativeService renders a spec service as a serving.knative.dev/v1 Service.
func knativeService(s spec.Service) *unstructured.Unstructured {
	o := obj("serving.knative.dev/v1", "Service", s.Namespace, s.Name)
	c := map[string]any{"image": s.Image, "imagePullPolicy": "IfNotPresent"}
	if len(s.Env) > 0 {
		names := make([]string, 0, len(s.Env))
		for k := range s.Env {
			names = append(names, k)
		}
		sort.Strings(names)
		env := make([]any, len(names))
		for i, k := range names {
			env[i] = map[string]any{"name": k, "value": s.Env[k]}
		}
		c["env"] = env
	}
	if s.Port > 0 {
		c["ports"] = []any{map[string]any{"containerPort": int64(s.Port)}}
	}
	res := map[string]any{}
	for which, rl := range map[string]spec.ResourceList{"requests": s.Requests, "limits": s.Limits} {
		m := map[string]any{}
		if rl.CPU.IsSet() {
			m["cpu"] = rl.CPU.String()
		}
		if rl.Memory.IsSet() {
			m["memory"] = rl.Memory.String()
		}
		if len(m) > 0 {
			res[which] = m
		}
	}
	if len(res) > 0 {
		c["resources"] = res
	}
	annotations := map[string]any{}
	if s.MinScale != nil {
		annotations["autoscaling.knative.dev/min-scale"] = fmt.Sprint(*s.MinScale)
	}
	if s.MaxScale != nil {
		annotations["autoscaling.knative.dev/max-scale"] = fmt.Sprint(*s.MaxScale)
	}
	for k, v := range autoscalingAnnotations(s) {
		annotations[k] = v
	}
	podSpec := map[string]any{"containers": []any{c}}
	if s.ContainerConcurrency != nil {
		podSpec["containerConcurrency"] = int64(*s.ContainerConcurrency)
	}
	tmpl := map[string]any{"spec": podSpec}
	if len(annotations) > 0 {
		tmpl["metadata"] = map[string]any{"annotations": annotations}
	}
	o.Object["spec"] = map[string]any{"template": tmpl}
	return o
}
