package bundle

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Knative's autoscaling annotations on a revision template.
const (
	AnnotationMinScale       = "autoscaling.knative.dev/min-scale"
	AnnotationMaxScale       = "autoscaling.knative.dev/max-scale"
	AnnotationTarget         = "autoscaling.knative.dev/target"
	AnnotationMetric         = "autoscaling.knative.dev/metric"
	AnnotationInitialScale   = "autoscaling.knative.dev/initial-scale"
	AnnotationScaleDownDelay = "autoscaling.knative.dev/scale-down-delay"
	AnnotationWindow         = "autoscaling.knative.dev/window"
)

// autoscalingAnnotations are the KPA settings a spec service sets, beside
// min and max scale (validated by pkg/spec).
func autoscalingAnnotations(s spec.Service) map[string]any {
	a := map[string]any{}
	if s.Target != nil {
		a[AnnotationTarget] = strconv.FormatFloat(*s.Target, 'f', -1, 64)
	}
	if s.Metric != "" {
		a[AnnotationMetric] = s.Metric
	}
	if s.InitialScale != nil {
		a[AnnotationInitialScale] = strconv.Itoa(*s.InitialScale)
	}
	if s.ScaleDownDelay != "" {
		a[AnnotationScaleDownDelay] = s.ScaleDownDelay
	}
	if s.Window != "" {
		a[AnnotationWindow] = s.Window
	}
	return a
}

// capServices writes the plan's derived max scale into the services that
// set none (plan.ServiceScale.Derived), and records the change.
func (r *renderer) capServices(p *plan.Plan) error {
	for _, sc := range p.MaxScale.Services {
		if !sc.Derived {
			continue
		}
		o := r.find("serving.knative.dev", "Service", sc.Namespace, sc.Name)
		if o == nil {
			return fmt.Errorf("spec.services: %s/%s: rendered Service not found", sc.Namespace, sc.Name)
		}
		if err := unstructured.SetNestedField(o.Object, strconv.Itoa(sc.Max), "spec", "template", "metadata", "annotations", AnnotationMaxScale); err != nil {
			return fmt.Errorf("spec.services: %s/%s: %w", sc.Namespace, sc.Name, err)
		}
		r.change(StackServices+"/services.yaml: Service "+sc.Namespace+"/"+sc.Name, "%s: %d, derived from the plan (spec.services[].maxScale not set)", AnnotationMaxScale, sc.Max)
	}
	return nil
}

// serviceBounds are the spec services' scale bounds for the plan.
func serviceBounds(svcs []spec.Service) []plan.Service {
	out := make([]plan.Service, len(svcs))
	for i, s := range svcs {
		out[i] = plan.Service{Source: fmt.Sprintf("spec.services[%d]", i), Namespace: s.Namespace, Kind: KnativeServiceKind, Name: s.Name, Max: s.MaxScale}
		if s.MinScale != nil {
			out[i].Min = *s.MinScale
		}
	}
	return out
}
