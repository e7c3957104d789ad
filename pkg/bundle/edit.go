package bundle

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/spec"
	"github.com/edgeimg/edgeimg/pkg/upstream"
)

// Kourier's ingress class for Knative's config-network.
const kourierIngressClass = "kourier.ingress.networking.knative.dev"

// MetalLB annotation pinning a Service's LoadBalancer address (MetalLB
// >= 0.14.9; the older metallb.universe.tf prefix still works).
const metallbLBIPs = "metallb.io/loadBalancerIPs"

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
	if err := r.editKubernetesMin(); err != nil {
		return err
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

// knativeMinEnv is the variable knative.dev/pkg's controllers read for the
// lowest Kubernetes they start on (version.CheckMinimumVersion).
const knativeMinEnv = "KUBERNETES_MIN_VERSION"

// editKubernetesMin sets knativeMinEnv on every container of Knative
// Serving's and Kourier's Deployments when spec.knative.kubernetesMinVersion
// lowers it.
func (r *renderer) editKubernetesMin() error {
	minVer := r.spec.Knative.KubernetesMinVersion
	if minVer == "" {
		return nil
	}
	value := "v" + minVer + ".0"
	n := 0
	for _, st := range r.res.Bundle.Stacks {
		if st.Name != StackKnativeServing && st.Name != StackKourier {
			continue
		}
		for _, f := range st.Files {
			for _, o := range f.Objects {
				if o.GetKind() != "Deployment" {
					continue
				}
				err := forEachContainer(o, func(c map[string]any, _ containerList) error {
					env, _ := c["env"].([]any)
					for i, e := range env {
						if m, ok := e.(map[string]any); ok && m["name"] == knativeMinEnv {
							env = append(env[:i], env[i+1:]...)
							break
						}
					}
					c["env"] = append(env, map[string]any{"name": knativeMinEnv, "value": value})
					n++
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("spec.knative.kubernetesMinVersion: no Knative Serving or Kourier Deployment to set %s on", knativeMinEnv)
	}
	r.change("knative-serving, kourier", "%s=%s on %d containers (spec.knative.kubernetesMinVersion): below the release's supported Kubernetes, unsupported upstream", knativeMinEnv, value, n)
	return nil
}
