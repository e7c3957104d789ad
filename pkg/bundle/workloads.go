package bundle

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// KnativeServiceKind names a Knative Service in plans (Kind "Service" alone
// would read as a core Service).
const KnativeServiceKind = "Service.serving.knative.dev"

// podSpecPath is where a workload kind keeps its pod spec.
func podSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		return []string{"spec"}
	}
	return nil
}

// containerList is one list of containers in a pod spec.
type containerList struct {
	field string // containers, initContainers
	init  bool
}

var containerLists = []containerList{{"initContainers", true}, {"containers", false}}

// forEachContainer calls fn for every container of a workload object with
// its list field and index; fn may modify the container map.
func forEachContainer(o *unstructured.Unstructured, fn func(c map[string]any, list containerList) error) error {
	path := podSpecPath(o.GetKind())
	if path == nil {
		return nil
	}
	for _, l := range containerLists {
		cs, found, err := unstructured.NestedSlice(o.Object, append(path, l.field)...)
		if err != nil {
			return fmt.Errorf("%s %s: %s: %w", o.GetKind(), o.GetName(), l.field, err)
		}
		if !found {
			continue
		}
		for i, raw := range cs {
			c, ok := raw.(map[string]any)
			if !ok {
				return fmt.Errorf("%s %s: %s[%d]: expected an object", o.GetKind(), o.GetName(), l.field, i)
			}
			if err := fn(c, l); err != nil {
				return err
			}
			cs[i] = c
		}
		if err := unstructured.SetNestedSlice(o.Object, cs, append(path, l.field)...); err != nil {
			return err
		}
	}
	return nil
}

// workloadsOf extracts a plan workload per container of the object.
func workloadsOf(o *unstructured.Unstructured, source string) ([]plan.Workload, error) {
	var out []plan.Workload
	err := forEachContainer(o, func(c map[string]any, l containerList) error {
		name, _ := c["name"].(string)
		req, lim, err := resourcesOf(c)
		if err != nil {
			return fmt.Errorf("%s %s/%s container %s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), name, err)
		}
		out = append(out, plan.Workload{
			Namespace: o.GetNamespace(), Kind: o.GetKind(), Name: o.GetName(), Container: name,
			Init: l.init, Source: source, Adjustable: true,
			OriginalRequests: req, OriginalLimits: lim,
		})
		return nil
	})
	return out, err
}

func resourcesOf(c map[string]any) (req, lim plan.Resources, err error) {
	get := func(which, res string) (int64, error) {
		s, found, err := unstructured.NestedFieldNoCopy(c, "resources", which, res)
		if err != nil || !found {
			return 0, err
		}
		q, err := resource.ParseQuantity(fmt.Sprint(s))
		if err != nil {
			return 0, fmt.Errorf("resources.%s.%s: %q: %w", which, res, s, err)
		}
		if res == "cpu" {
			return q.MilliValue(), nil
		}
		return q.Value(), nil
	}
	for _, f := range []struct {
		dst        *int64
		which, res string
	}{
		{&req.CPUMilli, "requests", "cpu"}, {&req.MemoryBytes, "requests", "memory"},
		{&lim.CPUMilli, "limits", "cpu"}, {&lim.MemoryBytes, "limits", "memory"},
	} {
		if *f.dst, err = get(f.which, f.res); err != nil {
			return
		}
	}
	return
}

// setResources writes a workload's fitted requests and limits back into a
// container, touching only values that changed.
func setResources(c map[string]any, w *plan.Workload) error {
	set := func(which, res string, before, after int64) error {
		if before == after {
			return nil
		}
		if after == 0 {
			unstructured.RemoveNestedField(c, "resources", which, res)
			return nil
		}
		return unstructured.SetNestedField(c, formatQuantity(res, after), "resources", which, res)
	}
	for _, f := range []struct {
		which, res    string
		before, after int64
	}{
		{"requests", "cpu", w.OriginalRequests.CPUMilli, w.Requests.CPUMilli},
		{"requests", "memory", w.OriginalRequests.MemoryBytes, w.Requests.MemoryBytes},
		{"limits", "cpu", w.OriginalLimits.CPUMilli, w.Limits.CPUMilli},
		{"limits", "memory", w.OriginalLimits.MemoryBytes, w.Limits.MemoryBytes},
	} {
		if err := set(f.which, f.res, f.before, f.after); err != nil {
			return err
		}
	}
	return nil
}

// formatQuantity prints CPU in millicores and memory in Mi (or bytes when
// not a whole Mi).
func formatQuantity(res string, v int64) string {
	if res == "cpu" {
		if v%1000 == 0 {
			return fmt.Sprint(v / 1000)
		}
		return fmt.Sprintf("%dm", v)
	}
	if v%(1<<20) == 0 {
		return fmt.Sprintf("%dMi", v>>20)
	}
	return fmt.Sprint(v)
}

// serviceWorkloads are the containers of one Knative Service's revision
// pod: the user's container and the queue-proxy sidecar Knative adds.
func serviceWorkloads(i int, s spec.Service, queueCPUMilli int64, knativeSource string) []plan.Workload {
	req := plan.Resources{CPUMilli: s.Requests.CPU.MilliValue(), MemoryBytes: s.Requests.Memory.Value()}
	lim := plan.Resources{CPUMilli: s.Limits.CPU.MilliValue(), MemoryBytes: s.Limits.Memory.Value()}
	return []plan.Workload{
		{Namespace: s.Namespace, Kind: KnativeServiceKind, Name: s.Name, Container: "user-container",
			Source: fmt.Sprintf("spec.services[%d]", i), OriginalRequests: req, OriginalLimits: lim},
		{Namespace: s.Namespace, Kind: KnativeServiceKind, Name: s.Name, Container: plan.QueueProxyContainer,
			Source: knativeSource + " (config-deployment)", Adjustable: true,
			OriginalRequests: plan.Resources{CPUMilli: queueCPUMilli}},
	}
}
