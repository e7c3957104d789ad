package plan

import (
	"testing"

	"github.com/edgeimg/edgeimg/pkg/k0sbin"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestStackKubernetes: every stack release of the default spec has a
// range, and the default spec's k0s (Kubernetes 1.36) is in each.
func TestStackKubernetes(t *testing.T) {
	d := spec.Default()
	rel, ok := k0sbin.Lookup(spec.DefaultK0sVersion)
	if !ok {
		t.Fatalf("default k0s %s is not in the catalog", spec.DefaultK0sVersion)
	}
	cat := spec.Catalog{
		Boards:      []string{d.Spec.Board},
		K0sVersions: []string{rel.K0s},
		Kubernetes:  map[string]string{rel.K0s: rel.Kubernetes},
		Stacks:      StackKubernetes(),
	}
	for field, version := range map[string]string{
		"spec.knative.version": d.Spec.Knative.Version,
		"spec.kourier.version": d.Spec.Kourier.Version,
		"spec.metallb.version": d.Spec.MetalLB.Version,
	} {
		r, ok := cat.Stacks[field][version]
		if !ok || r.Min == "" || r.Source == "" {
			t.Errorf("%s %s: no range (%+v)", field, version, r)
		}
	}
	if err := d.ValidateCatalog(cat); err != nil {
		t.Errorf("the default spec: %v", err)
	}
}
