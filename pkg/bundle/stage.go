package bundle

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// guard is one admission webhook rule with failurePolicy Fail: objects it
// matches cannot be created until the webhook's pods serve.
type guard struct {
	webhook  string
	group    string // "*" matches any
	resource string // plural, "*" matches any
	gate     string // namespace/deployment serving the webhook, "" if unknown
}

// stage moves every object guarded by a Fail-policy webhook of the bundle
// into staged stacks, promoted on the node once the webhook's Deployment is
// Available: k0s retries a failed stack for only ~51 s, far less than a
// slow first boot needs before webhook pods run.
func (r *renderer) stage() error {
	b := r.res.Bundle
	var all []*unstructured.Unstructured
	for _, st := range b.Stacks {
		for _, f := range st.Files {
			all = append(all, f.Objects...)
		}
	}
	guards, err := guardsOf(all)
	if err != nil {
		return err
	}
	plurals := pluralsOf(all)
	var live []*Stack
	for _, st := range b.Stacks {
		staged := &Stack{Name: st.Name + stagedSuffix, source: st.source}
		if st.Name == StackMetalLBConfig || st.Name == StackServices {
			staged.Name = st.Name // ours, and wholly guarded
		}
		gates := map[string]bool{}
		for _, f := range st.Files {
			var keep, move []*unstructured.Unstructured
			for _, o := range f.Objects {
				g, ok := guardedBy(o, guards, plurals)
				if !ok {
					keep = append(keep, o)
					continue
				}
				move = append(move, o)
				if g.gate != "" {
					gates[g.gate] = true
				}
				r.change(st.Name+"/"+f.Name+": "+keyOf(o).String(), "staged in %s: webhook %s (failurePolicy Fail) rejects it until %s is Available", staged.Name, g.webhook, orUnknown(g.gate))
			}
			f.Objects = keep
			if len(move) > 0 {
				staged.Files = append(staged.Files, &File{Name: f.Name, Objects: move})
			}
		}
		if len(staged.Files) > 0 {
			for g := range gates {
				staged.Gate = append(staged.Gate, g)
			}
			sort.Strings(staged.Gate)
			b.Staged = append(b.Staged, staged)
		}
		var files []*File
		for _, f := range st.Files {
			if len(f.Objects) > 0 {
				files = append(files, f)
			}
		}
		if len(files) > 0 {
			st.Files = files
			live = append(live, st)
		}
	}
	b.Stacks = live
	return nil
}

func orUnknown(gate string) string {
	if gate == "" {
		return "the API server answers (no Deployment found behind the webhook)"
	}
	return "Deployment " + gate
}

// guardsOf collects the Fail-policy webhook rules of the bundle and the
// Deployment behind each webhook's Service.
func guardsOf(objs []*unstructured.Unstructured) ([]guard, error) {
	var out []guard
	for _, o := range objs {
		if o.GroupVersionKind().Group != "admissionregistration.k8s.io" ||
			(o.GetKind() != "ValidatingWebhookConfiguration" && o.GetKind() != "MutatingWebhookConfiguration") {
			continue
		}
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		if err != nil {
			return nil, fmt.Errorf("%s %s: webhooks: %w", o.GetKind(), o.GetName(), err)
		}
		for _, raw := range hooks {
			h, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			name, _ := h["name"].(string)
			if policy, _ := h["failurePolicy"].(string); policy != "" && policy != "Fail" {
				continue
			}
			ns, _, _ := unstructured.NestedString(h, "clientConfig", "service", "namespace")
			svc, _, _ := unstructured.NestedString(h, "clientConfig", "service", "name")
			gate := deploymentBehind(objs, ns, svc)
			rules, _, _ := unstructured.NestedSlice(h, "rules")
			for _, rr := range rules {
				rule, ok := rr.(map[string]any)
				if !ok || !createsOrAll(rule) {
					continue
				}
				groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
				resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
				for _, g := range groups {
					for _, res := range resources {
						res, _, _ = strings.Cut(res, "/") // subresources: the parent counts
						out = append(out, guard{webhook: name, group: g, resource: res, gate: gate})
					}
				}
			}
		}
	}
	return out, nil
}

func createsOrAll(rule map[string]any) bool {
	ops, _, _ := unstructured.NestedStringSlice(rule, "operations")
	for _, op := range ops {
		if op == "CREATE" || op == "*" {
			return true
		}
	}
	return false
}

// deploymentBehind finds the Deployment whose pods a Service selects.
func deploymentBehind(objs []*unstructured.Unstructured, ns, svc string) string {
	var selector map[string]string
	for _, o := range objs {
		if o.GetKind() == "Service" && o.GroupVersionKind().Group == "" && o.GetNamespace() == ns && o.GetName() == svc {
			selector, _, _ = unstructured.NestedStringMap(o.Object, "spec", "selector")
		}
	}
	if len(selector) == 0 {
		return ""
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetNamespace() != ns {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		match := true
		for k, v := range selector {
			if labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return ns + "/" + o.GetName()
		}
	}
	return ""
}

// pluralsOf maps the bundle's custom kinds to their resource names.
func pluralsOf(objs []*unstructured.Unstructured) map[schema.GroupKind]string {
	out := map[schema.GroupKind]string{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		out[schema.GroupKind{Group: group, Kind: kind}] = plural
	}
	return out
}

func guardedBy(o *unstructured.Unstructured, guards []guard, plurals map[schema.GroupKind]string) (guard, bool) {
	gk := o.GroupVersionKind().GroupKind()
	plural, ok := plurals[gk]
	if !ok {
		plural = strings.ToLower(gk.Kind) + "s"
	}
	for _, g := range guards {
		if (g.group == "*" || g.group == gk.Group) && (g.resource == "*" || g.resource == plural) {
			return g, true
		}
	}
	return guard{}, false
}
