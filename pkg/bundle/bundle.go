package bundle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
	"github.com/edgeimg/edgeimg/pkg/upstream"
)

// Stack names. None collides with a stack k0s writes itself (see
// ReservedStackNames).
const (
	StackKnativeServing = "knative-serving"
	StackKourier        = "kourier"
	StackMetalLB        = "metallb"
	StackMetalLBConfig  = "metallb-config"
	StackServices       = "knative-services"
	StackNamespaces     = "service-namespaces" // spec.services' own namespaces
	stagedSuffix        = "-staged"
)

// ReservedStackNames are the manifest stacks k0s itself manages; a stack of
// ours with one of these names would be overwritten or pruned by k0s.
var ReservedStackNames = []string{
	"api-config", "autopilot", "bootstraprbac", "calico", "calico_init", "coredns",
	"helm", "konnectivity", "kubelet", "kubeproxy", "kuberouter", "metricserver",
	"node-role", "windows", "csr-approver", "system", "before", "after", "ignored",
}

// Kourier's ingress class for Knative's config-network.
const kourierIngressClass = "kourier.ingress.networking.knative.dev"

// MetalLB annotation pinning a Service's LoadBalancer address (MetalLB
// >= 0.14.9; the older metallb.universe.tf prefix still works).
const metallbLBIPs = "metallb.io/loadBalancerIPs"

// Options configures Stacks.
type Options struct {
	// Source reads upstream release files (a directory or the catalog).
	Source *upstream.Source
	// SystemWorkloads are the pods k0s itself runs for the k0s config
	// (k0sconfig.Config.SystemWorkloads), counted but never changed.
	SystemWorkloads []plan.Workload
}

// Change records one deliberate edit of an upstream object.
type Change struct {
	Where string `json:"where"`
	What  string `json:"what"`
}

// Result is a rendered bundle with the plan it was fitted to.
type Result struct {
	Bundle  *Bundle
	Plan    *plan.Plan
	Changes []Change
	// LBAddress is the address the Kourier LoadBalancer is pinned to,
	// Domain the Knative domain written to config-domain.
	LBAddress string
	Domain    string
}

// component is one upstream release file and the stack it becomes.
type component struct {
	stack, project, version, file string
}

func (c component) source() string { return c.project + " " + c.version }

// Stacks are the k0s manifest stacks for d: the upstream releases named by
// the spec, fitted to the node, with the plan they were fitted to.
func Stacks(ctx context.Context, d *spec.Document, opts Options) (*Result, error) {
	if opts.Source == nil {
		return nil, errors.New("render: no upstream source")
	}
	s := &d.Spec
	comps := []component{
		{StackKnativeServing, upstream.KnativeServing, s.Knative.Version, upstream.ServingCore},
		{StackKourier, upstream.NetKourier, s.Kourier.Version, upstream.KourierYAML},
		{StackMetalLB, upstream.MetalLB, s.MetalLB.Version, upstream.MetalLBNative},
	}
	r := &renderer{spec: s, res: &Result{Bundle: &Bundle{}}, seen: map[key]string{}}
	for _, c := range comps {
		data, err := opts.Source.Read(ctx, c.project, c.version, c.file)
		if err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		if err := r.add(c, data); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
	}
	if err := r.addSpecObjects(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.fit(opts.SystemWorkloads); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.edit(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.stage(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.res.Bundle.check(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return r.res, nil
}

type renderer struct {
	spec *spec.Spec
	res  *Result
	// seen maps every object to the stack/file holding it.
	seen map[key]string
	// knative is the Serving source label, for the queue-proxy workload.
	knative string
}

func (r *renderer) change(where, format string, args ...any) {
	r.res.Changes = append(r.res.Changes, Change{Where: where, What: fmt.Sprintf(format, args...)})
}

// add parses one release file into its stack, dropping objects another
// file already holds (serving-crds.yaml repeats serving-core's CRDs) and
// refusing objects k0s's applier cannot handle.
func (r *renderer) add(c component, data []byte) error {
	name := c.project + "/" + c.version + "/" + c.file
	objs, err := ParseObjects(name, data)
	if err != nil {
		return err
	}
	if c.project == upstream.KnativeServing {
		r.knative = c.source()
	}
	sc := scopesOf(objs)
	f := &File{Name: c.file}
	for _, o := range objs {
		where := c.stack + "/" + c.file
		if o.GetGenerateName() != "" && o.GetName() == "" {
			r.change(where, "dropped %s %s* (generateName: k0s's applier cannot apply it)", o.GetKind(), o.GetGenerateName())
			continue
		}
		namespaced := !sc.clusterScoped(o)
		if namespaced && o.GetNamespace() == "" {
			return fmt.Errorf("%s: %s %s: metadata.namespace: empty: k0s's applier needs an explicit namespace on every namespaced object", name, o.GetKind(), o.GetName())
		}
		k := keyOf(o)
		if prev, dup := r.seen[k]; dup {
			r.change(where, "dropped %s: already in %s", k, prev)
			continue
		}
		r.seen[k] = where
		setLabel(o, "app.kubernetes.io/managed-by", "edgeimg")
		f.Objects = append(f.Objects, o)
	}
	r.res.Bundle.Stacks = append(r.res.Bundle.Stacks, &Stack{Name: c.stack, Files: []*File{f}, source: c.source()})
	return nil
}

// setLabel leaves upstream labels alone except the one edgeimg adds to
// find its objects; it is only added where absent.
func setLabel(o *unstructured.Unstructured, k, v string) {
	labels := o.GetLabels()
	if _, ok := labels[k]; ok {
		return
	}
	if labels == nil {
		labels = map[string]string{}
	}
	labels[k] = v
	o.SetLabels(labels)
}

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
	tmpl := map[string]any{"spec": map[string]any{"containers": []any{c}}}
	if len(annotations) > 0 {
		tmpl["metadata"] = map[string]any{"annotations": annotations}
	}
	o.Object["spec"] = map[string]any{"template": tmpl}
	return o
}

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
	p, err := plan.Compute(plan.Input{Node: r.spec.Node, Resources: r.spec.Resources, Workloads: ws})
	if err != nil {
		return err
	}
	r.res.Plan = p
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

// find returns the object with that group, kind, namespace and name.
func (r *renderer) find(group, kind, namespace, name string) *unstructured.Unstructured {
	for _, st := range r.res.Bundle.Stacks {
		for _, f := range st.Files {
			for _, o := range f.Objects {
				gvk := o.GroupVersionKind()
				if gvk.Group == group && gvk.Kind == kind && o.GetNamespace() == namespace && o.GetName() == name {
					return o
				}
			}
		}
	}
	return nil
}

// edit makes the single-node and offline edits.
func (r *renderer) edit() error {
	pullPolicies := 0
	for _, st := range r.res.Bundle.Stacks {
		for _, f := range st.Files {
			for _, o := range f.Objects {
				where := st.Name + "/" + f.Name + ": " + o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
				switch o.GetKind() {
				case "Deployment", "StatefulSet", "ReplicaSet":
					n, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
					if !found || n != 1 {
						if err := unstructured.SetNestedField(o.Object, int64(1), "spec", "replicas"); err != nil {
							return err
						}
						r.change(where, "replicas %s → 1", orUnset(found, n))
					}
				case "HorizontalPodAutoscaler":
					lo, _, _ := unstructured.NestedInt64(o.Object, "spec", "minReplicas")
					hi, _, _ := unstructured.NestedInt64(o.Object, "spec", "maxReplicas")
					if lo != 1 || hi != 1 {
						_ = unstructured.SetNestedField(o.Object, int64(1), "spec", "minReplicas")
						_ = unstructured.SetNestedField(o.Object, int64(1), "spec", "maxReplicas")
						r.change(where, "replicas %d–%d → 1–1: one node cannot hold more, extra replicas would stay Pending", lo, hi)
					}
				case "PodDisruptionBudget":
					if v, found, _ := unstructured.NestedFieldCopy(o.Object, "spec", "minAvailable"); found {
						unstructured.RemoveNestedField(o.Object, "spec", "minAvailable")
						_ = unstructured.SetNestedField(o.Object, int64(1), "spec", "maxUnavailable")
						r.change(where, "minAvailable %v → maxUnavailable 1: with one replica minAvailable blocks every drain (knative/serving#9990)", v)
					}
				}
				err := forEachContainer(o, func(c map[string]any, _ containerList) error {
					if c["imagePullPolicy"] != "IfNotPresent" {
						c["imagePullPolicy"] = "IfNotPresent"
						pullPolicies++
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
	}
	if pullPolicies > 0 {
		r.change("all stacks", "imagePullPolicy IfNotPresent on %d containers: every image is preloaded, nothing may be pulled", pullPolicies)
	}
	return r.editKnative()
}

func orUnset(found bool, n int64) string {
	if !found {
		return "unset"
	}
	return fmt.Sprint(n)
}

// editKnative sets Kourier as the ingress, an explicit domain (no
// default-domain Job, which needs a public DNS answer and a GitHub asset),
// the fitted queue-proxy request, and pins Kourier's LoadBalancer to the
// first MetalLB address. _example blocks are never touched: Knative's
// webhook rejects edits to them.
func (r *renderer) editKnative() error {
	s := r.spec
	setData := func(name, k, v string) error {
		cm := r.find("", "ConfigMap", "knative-serving", name)
		if cm == nil {
			return fmt.Errorf("knative-serving %s: ConfigMap knative-serving/%s not found in %s", s.Knative.Version, name, upstream.ServingCore)
		}
		old, found, _ := unstructured.NestedString(cm.Object, "data", k)
		if found && old == v {
			return nil
		}
		if err := unstructured.SetNestedField(cm.Object, v, "data", k); err != nil {
			return err
		}
		r.change(StackKnativeServing+"/"+upstream.ServingCore+": ConfigMap knative-serving/"+name, "%s: %q → %q", k, old, v)
		return nil
	}
	if err := setData("config-network", "ingress-class", kourierIngressClass); err != nil {
		return err
	}
	lb := ""
	if len(s.MetalLB.Addresses) > 0 {
		rng, err := spec.ParseAddressRange(s.MetalLB.Addresses[0])
		if err != nil {
			return fmt.Errorf("spec.metallb.addresses[0]: %w", err)
		}
		lb = rng.FirstUsable().String()
		svc := r.find("", "Service", "kourier-system", "kourier")
		if svc == nil {
			return fmt.Errorf("net-kourier %s: Service kourier-system/kourier not found in %s", s.Kourier.Version, upstream.KourierYAML)
		}
		ann := svc.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[metallbLBIPs] = lb
		svc.SetAnnotations(ann)
		r.change(StackKourier+"/"+upstream.KourierYAML+": Service kourier-system/kourier", "LoadBalancer address pinned to %s (%s)", lb, metallbLBIPs)
	}
	domain := s.Knative.Domain
	if domain == "" {
		if lb == "" {
			return errors.New("knative domain: spec.knative.domain is empty and there is no MetalLB address to derive <address>.sslip.io from")
		}
		domain = lb + ".sslip.io"
	}
	if cm := r.find("", "ConfigMap", "knative-serving", "config-domain"); cm == nil {
		return fmt.Errorf("knative-serving %s: ConfigMap knative-serving/config-domain not found in %s", s.Knative.Version, upstream.ServingCore)
	} else if err := unstructured.SetNestedField(cm.Object, "", "data", domain); err != nil {
		return err
	}
	r.change(StackKnativeServing+"/"+upstream.ServingCore+": ConfigMap knative-serving/config-domain", "domain %s (explicit: no default-domain Job, no lookup of the LoadBalancer address)", domain)
	if q := r.res.Plan.QueueProxyCPURequestMilli; q > 0 {
		if err := setData("config-deployment", "queue-sidecar-cpu-request", formatQuantity("cpu", q)); err != nil {
			return err
		}
	}
	r.res.LBAddress, r.res.Domain = lb, domain
	if lb != "" {
		r.res.Bundle.Site = &Site{Addresses: s.MetalLB.Addresses, LBAddress: lb, DomainFromLB: s.Knative.Domain == ""}
	}
	return nil
}

// check enforces the applier's rules: names are not k0s's, every object is
// in exactly one stack.
func (b *Bundle) check() error {
	where := map[key]string{}
	names := map[string]bool{}
	for _, group := range [][]*Stack{b.Stacks, b.Staged} {
		for _, s := range group {
			for _, r := range ReservedStackNames {
				if s.Name == r {
					return fmt.Errorf("stack %q: the name is k0s's own", s.Name)
				}
			}
			if names[s.Name] {
				return fmt.Errorf("stack %q: defined twice", s.Name)
			}
			names[s.Name] = true
			for _, f := range s.Files {
				if !strings.HasSuffix(f.Name, ".yaml") {
					return fmt.Errorf("stack %s: file %q: k0s only reads *.yaml", s.Name, f.Name)
				}
				for _, o := range f.Objects {
					k := keyOf(o)
					if prev, dup := where[k]; dup {
						return fmt.Errorf("%s is in both %s and %s/%s: removing one would prune it", k, prev, s.Name, f.Name)
					}
					where[k] = s.Name + "/" + f.Name
				}
			}
		}
	}
	return nil
}
