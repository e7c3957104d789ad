package spec

import (
	"fmt"
	"slices"
	"strings"
)

func (v *validator) services(svcs []Service) {
	seen := map[string]int{}
	for i, s := range svcs {
		f := fmt.Sprintf("spec.services[%d]", i)
		if !dnsLabel.MatchString(s.Name) {
			v.add(f+".name", "%q: expected a DNS label (lowercase letters, digits, '-')", s.Name)
		}
		if !dnsLabel.MatchString(s.Namespace) {
			v.add(f+".namespace", "%q: expected a namespace name", s.Namespace)
		} else if slices.Contains(SystemNamespaces, s.Namespace) {
			v.add(f+".namespace", "%q is a system namespace (%s): expected default or a namespace of your own (edgeimg creates it)", s.Namespace, strings.Join(SystemNamespaces, ", "))
		}
		key := s.Namespace + "/" + s.Name
		if j, dup := seen[key]; dup {
			v.add(f+".name", "%q in namespace %q is also spec.services[%d]: expected unique names", s.Name, s.Namespace, j)
		}
		seen[key] = i
		if err := checkReference(s.Image); err != nil {
			v.add(f+".image", "%s", err.Error())
		}
		for k := range s.Env {
			switch {
			case !envNameRe.MatchString(k):
				v.add(f+".env."+k, "expected an environment variable name")
			case k == "PORT" || strings.HasPrefix(k, "K_"):
				v.add(f+".env."+k, "set by Knative for every revision (PORT, K_SERVICE, K_CONFIGURATION, K_REVISION; K_* is reserved): expected another name (the container port is spec.services[].port)")
			}
		}
		switch {
		case s.Port < 0 || s.Port > 65535:
			v.add(f+".port", "%d: expected 1-65535 (or 0 for Knative's default 8080)", s.Port)
		case slices.Contains(QueueProxyPorts, s.Port):
			v.add(f+".port", "%d is a port of Knative's queue-proxy sidecar (reserved: %s): expected another port", s.Port, joinInts(QueueProxyPorts))
		}
		v.resources(f, s.Requests, s.Limits)
		v.autoscaling(f, s)
	}
}

// SystemNamespaces belong to Kubernetes, k0s and the stack: a service is
// never deployed into one.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "knative-serving", "kourier-system", "metallb-system"}

// QueueProxyPorts are the ports Knative's queue-proxy sidecar (and its
// profiling endpoint) listens on in every revision's pod, which Knative
// refuses as a container port.
var QueueProxyPorts = []int{8008, 8012, 8013, 8022, 8090, 8112, 9090, 9091}

// resources checks a service's requests and limits: in range, and no
// request above its limit (Kubernetes refuses such a pod).
func (v *validator) resources(f string, req, lim ResourceList) {
	okCPU := v.cpu(f+".requests.cpu", req.CPU) && v.cpu(f+".limits.cpu", lim.CPU)
	okMem := v.memory(f+".requests.memory", req.Memory) && v.memory(f+".limits.memory", lim.Memory)
	if okCPU && req.CPU.IsSet() && lim.CPU.IsSet() && req.CPU.Cmp(lim.CPU) > 0 {
		v.add(f+".requests.cpu", "%s is above limits.cpu %s: expected a request at most its limit", req.CPU, lim.CPU)
	}
	if okMem && req.Memory.IsSet() && lim.Memory.IsSet() && req.Memory.Cmp(lim.Memory) > 0 {
		v.add(f+".requests.memory", "%s is above limits.memory %s: expected a request at most its limit", req.Memory, lim.Memory)
	}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
