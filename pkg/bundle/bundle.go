package bundle

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
