package render

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func renderSpec(t *testing.T, mod func(*spec.Document)) *Result {
	t.Helper()
	d := spec.Default()
	if mod != nil {
		mod(d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := NodeConfig(context.Background(), d, Options{Upstream: fixtures.Upstream(t)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPlanVerdicts(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*spec.Document)
		fits bool
	}{
		{"default fits 1 CPU / 1536Mi", nil, true},
		{"untransformed does not fit", func(d *spec.Document) { d.Spec.Resources.Strategy = spec.StrategyNone }, false},
		{"halving by hand does not fit one CPU with k0s's own pods", func(d *spec.Document) {
			d.Spec.Resources.Strategy, d.Spec.Resources.Factor = spec.StrategyScale, 0.5
		}, false},
		{"halving fits 2 CPUs / 2Gi", func(d *spec.Document) {
			d.Spec.Resources.Strategy, d.Spec.Resources.Factor = spec.StrategyScale, 0.5
			d.Spec.Node.CPU, d.Spec.Node.Memory = spec.MustQuantity("2"), spec.MustQuantity("2Gi")
		}, true},
		// The control plane alone (pkg/plan's controlPlane, measured by make
		// e2e) takes nearly all of it.
		{"1 CPU / 1Gi is out of reach", func(d *spec.Document) { d.Spec.Node.Memory = spec.MustQuantity("1Gi") }, false},
		{"2 CPU / 2Gi fits untransformed", func(d *spec.Document) {
			d.Spec.Resources.Strategy = spec.StrategyNone
			d.Spec.Node.CPU, d.Spec.Node.Memory = spec.MustQuantity("2"), spec.MustQuantity("2Gi")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := renderSpec(t, tt.mod)
			if res.Plan.Fits != tt.fits {
				t.Errorf("fits = %v, want %v: %s", res.Plan.Fits, tt.fits, res.Plan.Verdict())
			}
		})
	}
}

func TestSystemPodsCounted(t *testing.T) {
	res := renderSpec(t, nil)
	for _, name := range []string{"coredns", "kube-router", "metrics-server", "kube-proxy"} {
		found := false
		for _, w := range res.Plan.Workloads {
			if w.Namespace == "kube-system" && w.Name == name {
				found = true
				if w.Adjustable || !strings.HasPrefix(w.Source, "k0s ") {
					t.Errorf("%s: adjustable=%v source=%q", name, w.Adjustable, w.Source)
				}
			}
		}
		if !found {
			t.Errorf("k0s system pod %s not in the plan", name)
		}
	}
	bridge := renderSpec(t, func(d *spec.Document) {
		d.Spec.K0s.Network = spec.NetworkBridge
		d.Spec.K0s.DisableComponents = []string{"metrics-server"}
	})
	for _, w := range bridge.Plan.Workloads {
		if w.Name == "kube-router" || w.Name == "metrics-server" {
			t.Errorf("%s planned though disabled", w.Name)
		}
	}
}

func TestReservationsReachK0sConfig(t *testing.T) {
	res := renderSpec(t, nil)
	y, err := res.K0s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := k0sconfig.Build(res.Spec, k0sconfig.Reservations{
		CPUMilli: res.Plan.Node.ReservedCPUMilli, MemoryBytes: res.Plan.Node.ReservedMemoryBytes, EvictionHardBytes: res.Plan.Node.EvictionHardBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := cfg.YAML()
	if string(y) != string(want) {
		t.Errorf("k0s.yaml does not carry the plan's reservations:\n%s", y)
	}
	if !strings.Contains(string(y), "systemReserved") {
		t.Errorf("k0s.yaml has no systemReserved:\n%s", y)
	}
}

func TestPayload(t *testing.T) {
	res := renderSpec(t, nil)
	p, err := res.Payload()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range p.Files {
		have[f.Path] = true
	}
	for _, want := range []string{k0spath.Config, k0spath.UnitPath, "/var/lib/k0s/manifests/knative-serving/serving-core.yaml", "/usr/local/libexec/edgeimg/promote-staged"} {
		if !have[want] {
			t.Errorf("payload lacks %s", want)
		}
	}
	if got := res.Units(); len(got) != 2 || got[0] != k0spath.UnitName {
		t.Errorf("units = %v", got)
	}
}

// TestPayloadCNI: network bridge's payload carries the conflist, the links
// to Debian's CNI plugins and the package with them; kuberouter's none.
func TestPayloadCNI(t *testing.T) {
	for _, tc := range []struct {
		network  string
		links    int
		packages []string
	}{
		{spec.NetworkBridge, 4, []string{"containernetworking-plugins"}},
		{spec.NetworkKubeRouter, 0, nil},
	} {
		t.Run(tc.network, func(t *testing.T) {
			res := renderSpec(t, func(d *spec.Document) { d.Spec.K0s.Network = tc.network })
			p, err := res.Payload()
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Links) != tc.links || !slices.Equal(p.Packages, tc.packages) {
				t.Errorf("links %v, packages %v: want %d links, packages %v", p.Links, p.Packages, tc.links, tc.packages)
			}
		})
	}
}
