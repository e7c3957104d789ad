package airgap

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// Where the non-object references come from.
const (
	WhereSystem = "k0s system images"
	WhereExtra  = "spec.images.extra"
)

// podSpecPaths are where a pod spec sits in the workload kinds: Pod and
// Knative Revision (spec), Deployment, ReplicaSet, StatefulSet, DaemonSet,
// Job, ReplicationController and Knative Service/Configuration
// (spec.template.spec), CronJob (spec.jobTemplate.spec.template.spec),
// PodTemplate (template.spec). They are looked up in every object, so a
// custom resource that embeds a pod template the same way is covered too.
var podSpecPaths = [][]string{
	{"spec"},
	{"spec", "template", "spec"},
	{"spec", "jobTemplate", "spec", "template", "spec"},
	{"template", "spec"},
}

var containerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// imageField is one field that holds an image the node pulls.
type imageField struct {
	field string
	get   func() string
	set   func(string)
	// pullAlways is set when the container asks for imagePullPolicy Always.
	pullAlways bool
}

// imageFields lists the image fields of one object, in a stable order.
func imageFields(o *unstructured.Unstructured) []imageField {
	var out []imageField
	content := o.Object
	for _, p := range podSpecPaths {
		podSpec, ok := nestedMap(content, p...)
		if !ok {
			continue
		}
		for _, list := range containerLists {
			items, ok := podSpec[list].([]any)
			if !ok {
				continue
			}
			for i, item := range items {
				c, ok := item.(map[string]any)
				if !ok {
					continue
				}
				if _, has := c["image"]; !has {
					continue
				}
				key := strconv.Itoa(i)
				if n, ok := c["name"].(string); ok && n != "" {
					key = n
				}
				pp, _ := c["imagePullPolicy"].(string)
				out = append(out, imageField{
					field:      fmt.Sprintf("%s.%s[%s].image", strings.Join(p, "."), list, key),
					get:        func() string { s, _ := c["image"].(string); return s },
					set:        func(v string) { c["image"] = v },
					pullAlways: pp == "Always",
				})
			}
		}
	}
	gv := o.GroupVersionKind()
	switch {
	case gv.Group == "" && gv.Kind == "ConfigMap" && o.GetName() == "config-deployment":
		// Knative Serving's queue-proxy sidecar: injected into every
		// Knative Service pod, named only here.
		if data, ok := content["data"].(map[string]any); ok {
			if _, has := data["queue-sidecar-image"]; has {
				out = append(out, imageField{
					field: "data.queue-sidecar-image",
					get:   func() string { s, _ := data["queue-sidecar-image"].(string); return s },
					set:   func(v string) { data["queue-sidecar-image"] = v },
				})
			}
		}
	case gv.Group == "caching.internal.knative.dev" && gv.Kind == "Image":
		if spec, ok := content["spec"].(map[string]any); ok {
			if _, has := spec["image"]; has {
				out = append(out, imageField{
					field: "spec.image",
					get:   func() string { s, _ := spec["image"].(string); return s },
					set:   func(v string) { spec["image"] = v },
				})
			}
		}
	}
	return out
}

func nestedMap(m map[string]any, path ...string) (map[string]any, bool) {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// Find lists every image the node will pull: the image fields of the
// objects (containers, init and ephemeral containers of every workload
// kind, Knative Service/Configuration/Revision templates, Knative's
// config-deployment queue-sidecar-image and caching.internal.knative.dev
// Images), the extra images of the spec and k0s's system images. Each
// reference comes once, with every place it was found, sorted by
// reference. Any other string in the objects that looks like an image
// reference is returned as a warning, and so are image fields the node
// cannot pull offline as written (empty, invalid, imagePullPolicy Always).
func Find(objs []bundle.Object, extra, system []string) ([]Ref, []Warning) {
	byRef := map[string]*Ref{}
	var order []string
	var warnings, strays []Warning
	add := func(ref string, loc Location) {
		r, ok := byRef[ref]
		if !ok {
			r = &Ref{Ref: ref}
			byRef[ref] = r
			order = append(order, ref)
		}
		r.Locations = append(r.Locations, loc)
	}
	for _, o := range objs {
		if o.Obj == nil {
			continue
		}
		where := o.Where()
		fields := imageFields(o.Obj)
		seen := map[string]bool{}
		for _, f := range fields {
			v := f.get()
			loc := Location{Where: where, Field: f.field}
			seen[v] = true
			if _, err := parseRef(v); err != nil {
				warnings = append(warnings, Warning{Location: loc, Value: v, Reason: err.Error()})
			}
			if f.pullAlways {
				warnings = append(warnings, Warning{Location: loc, Value: v,
					Reason: "imagePullPolicy Always: the node will try to reach the registry for it on every start"})
			}
			if v != "" {
				add(v, loc)
			}
		}
		for _, s := range strayImages(o.Obj.Object, "", seen) {
			strays = append(strays, Warning{Location: Location{Where: where, Field: s.field}, Value: s.value,
				Reason: "looks like an image reference outside the image fields; add it to spec.images.extra if the node needs it"})
		}
	}
	for i, e := range extra {
		loc := Location{Where: fmt.Sprintf("%s[%d]", WhereExtra, i)}
		if _, err := parseRef(e); err != nil {
			warnings = append(warnings, Warning{Location: loc, Value: e, Reason: err.Error()})
		}
		add(e, loc)
	}
	for _, s := range system {
		add(s, Location{Where: WhereSystem})
	}
	for _, w := range strays {
		if byRef[w.Value] == nil {
			warnings = append(warnings, w)
		}
	}
	refs := make([]Ref, 0, len(order))
	for _, k := range order {
		refs = append(refs, *byRef[k])
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].Ref < refs[j].Ref })
	return refs, warnings
}

type stray struct{ field, value string }

// strayImages walks every string of an object (map values, list items;
// multi-line strings word by word) for image-like strings that are not an
// image field's value.
func strayImages(v any, path string, skip map[string]bool) []stray {
	var out []stray
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, strayImages(t[k], p, skip)...)
		}
	case []any:
		for i, e := range t {
			out = append(out, strayImages(e, fmt.Sprintf("%s[%d]", path, i), skip)...)
		}
	case string:
		if skip[t] {
			return nil
		}
		for _, w := range words(t) {
			if !skip[w] && looksLikeImage(w) {
				out = append(out, stray{field: path, value: w})
			}
		}
	}
	return out
}

// words splits a string into candidate tokens: on spaces, quotes, commas,
// and '=' (flag and env assignments), with trailing sentence punctuation
// trimmed.
func words(s string) []string {
	ws := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("\"'`,=()[]{}<>", r)
	})
	for i, w := range ws {
		ws[i] = strings.TrimRight(w, ".;:")
	}
	return ws
}

// Pin rewrites every image field of the objects in place to the pinned
// reference of its image (name:tag@sha256:..., or name@sha256:... for a
// "latest" or missing tag): the same fields Find reads. images must cover
// every reference Find returned for these objects; the objects are left
// untouched and the missing references named otherwise.
func Pin(objs []bundle.Object, images []Image) error {
	pinned := PinnedRefs(images)
	type edit struct {
		set func(string)
		to  string
	}
	var edits []edit
	var missing []string
	for _, o := range objs {
		if o.Obj == nil {
			continue
		}
		for _, f := range imageFields(o.Obj) {
			v := f.get()
			to, ok := pinned[v]
			if !ok {
				missing = append(missing, fmt.Sprintf("%q (%s: %s)", v, o.Where(), f.field))
				continue
			}
			edits = append(edits, edit{f.set, to})
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("pin images: no resolved image for %s", strings.Join(missing, ", "))
	}
	for _, e := range edits {
		e.set(e.to)
	}
	return nil
}

// PinnedRefs maps every reference as found to its pinned form
// (Image.Pinned), for the places Pin does not rewrite: k0s's system
// images, through k0sconfig's Config.RewriteImages (their tags are kept:
// k0s requires one).
func PinnedRefs(images []Image) map[string]string {
	out := make(map[string]string, len(images))
	for _, im := range images {
		out[im.Ref.Ref] = im.Pinned()
	}
	return out
}
