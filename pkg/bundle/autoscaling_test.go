package bundle

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestRenderAutoscaling renders the default spec's service with each KPA
// setting and checks Knative's annotations and containerConcurrency on
// the revision template, and the plan's cap in max-scale when the spec
// sets none.
func TestRenderAutoscaling(t *testing.T) {
	ptr := func(n int) *int { return &n }
	target := 10.5
	tests := []struct {
		name string
		mod  func(*spec.Service)
		want map[string]string // annotations; "" must be absent
		cc   any               // containerConcurrency; nil: absent
	}{
		{"every setting", func(s *spec.Service) {
			s.MinScale, s.MaxScale, s.Target, s.Metric = ptr(1), ptr(4), &target, "rps"
			s.ContainerConcurrency, s.InitialScale, s.ScaleDownDelay, s.Window = ptr(20), ptr(2), "30s", "1m"
		}, map[string]string{
			AnnotationMinScale: "1", AnnotationMaxScale: "4", AnnotationTarget: "10.5", AnnotationMetric: "rps",
			AnnotationInitialScale: "2", AnnotationScaleDownDelay: "30s", AnnotationWindow: "1m",
		}, int64(20)},
		{"containerConcurrency 0 is rendered (unlimited, said)", func(s *spec.Service) {
			s.MaxScale, s.ContainerConcurrency = ptr(3), ptr(0)
		}, map[string]string{AnnotationMaxScale: "3", AnnotationTarget: "", AnnotationMetric: "", AnnotationWindow: "", AnnotationScaleDownDelay: "", AnnotationInitialScale: ""}, int64(0)},
		{"maxScale 0 stays unlimited", func(s *spec.Service) { s.MaxScale = ptr(0) }, map[string]string{AnnotationMaxScale: "0"}, nil},
		{"no maxScale: the plan's cap", func(s *spec.Service) {}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := render(t, func(d *spec.Document) { tt.mod(&d.Spec.Services[0]) })
			o := helloService(t, res)
			ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
			for k, v := range tt.want {
				if got, ok := ann[k]; v == "" && ok || v != "" && got != v {
					t.Errorf("annotation %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			cc, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "template", "spec", "containerConcurrency")
			if tt.cc == nil && found || tt.cc != nil && cc != tt.cc {
				t.Errorf("containerConcurrency = %v (found %v), want %v", cc, found, tt.cc)
			}
			sc := res.Plan.MaxScale.Services[0]
			if tt.want == nil {
				if !sc.Derived || sc.Max < 1 || ann[AnnotationMaxScale] != itoa(sc.Max) {
					t.Errorf("max-scale %q, plan %+v: want the plan's derived cap rendered", ann[AnnotationMaxScale], sc)
				}
				var said bool
				for _, c := range res.Changes {
					said = said || strings.Contains(c.What, "derived from the plan")
				}
				if !said {
					t.Error("the derived cap is not among the render's changes")
				}
			} else if sc.Derived {
				t.Errorf("plan derived a cap for a service that sets maxScale: %+v", sc)
			}
		})
	}
}

func helloService(t *testing.T, res *Result) *unstructured.Unstructured {
	t.Helper()
	for _, o := range res.Bundle.Objects() {
		if o.Obj.GetKind() == "Service" && o.Obj.GetAPIVersion() == "serving.knative.dev/v1" && o.Obj.GetName() == "hello" {
			return o.Obj
		}
	}
	t.Fatal("no hello Knative Service rendered")
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
