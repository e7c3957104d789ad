package render

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/internal/testkit/kube"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestServerSideDryRun sends every object edgeimg renders, live and
// staged, to a real kube-apiserver (Kubernetes 1.33.13 on kine): CRDs and
// Namespaces are created for real, everything else is dry-run. Zero
// rejections means the fitted resources, the edited ConfigMaps and
// PDBs/HPAs, the MetalLB pool and the Knative Service are all valid.
func TestServerSideDryRun(t *testing.T) {
	api := kube.StartAPIServer(t)
	for _, tt := range []struct {
		name string
		mod  func(*spec.Document)
	}{
		{"default", nil},
		{"1Gi bridge, scaled, custom domain, two services, one in a namespace of its own", func(d *spec.Document) {
			d.Spec.Node.Memory = spec.MustQuantity("1Gi")
			d.Spec.K0s.Network = spec.NetworkBridge
			d.Spec.Resources.Strategy, d.Spec.Resources.Factor = spec.StrategyScale, 0.5
			d.Spec.Knative.Domain = "edge.example.com"
			two := 2
			d.Spec.Services = append(d.Spec.Services, spec.Service{Name: "second", Namespace: "apps", Image: "example.com/app:1", Port: 9000, MaxScale: &two,
				Requests: spec.ResourceList{CPU: spec.MustQuantity("10m"), Memory: spec.MustQuantity("32Mi")}})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := renderSpec(t, tt.mod)
			var objs []*unstructured.Unstructured
			for _, o := range res.Bundle.Objects() {
				objs = append(objs, o.Obj.DeepCopy())
			}
			if len(objs) < 90 {
				t.Fatalf("only %d objects rendered", len(objs))
			}
			for _, err := range kube.DryRun(t, api.Config, objs) {
				t.Error(err)
			}
		})
	}
}
