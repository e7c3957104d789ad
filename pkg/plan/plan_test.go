package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// stack is a small but realistic input: Knative's activator and webhook as
// released, a MetalLB container without requests, a k0s system pod and a
// pod with an init container.
func stack() []Workload {
	return []Workload{
		{Namespace: "knative-serving", Kind: "Deployment", Name: "activator", Container: "activator", Source: "knative-serving 1.23.0", Adjustable: true,
			OriginalRequests: Resources{300, 60 * mi}, OriginalLimits: Resources{1000, 600 * mi}},
		{Namespace: "knative-serving", Kind: "Deployment", Name: "webhook", Container: "webhook", Source: "knative-serving 1.23.0", Adjustable: true,
			OriginalRequests: Resources{100, 100 * mi}, OriginalLimits: Resources{500, 500 * mi}},
		{Namespace: "kourier-system", Kind: "Deployment", Name: "3scale-kourier-gateway", Container: "kourier-gateway", Source: "net-kourier 1.23.0", Adjustable: true,
			OriginalRequests: Resources{200, 200 * mi}, OriginalLimits: Resources{1000, 800 * mi}},
		{Namespace: "metallb-system", Kind: "DaemonSet", Name: "speaker", Container: "speaker", Source: "metallb v0.15.3", Adjustable: true},
		{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-router", Container: "kube-router", Source: "k0s", Adjustable: false,
			OriginalRequests: Resources{250, 16 * mi}},
		{Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-router", Container: "install-cni", Init: true, Source: "k0s",
			OriginalRequests: Resources{400, 8 * mi}},
	}
}

func node(cpu, memory string) spec.Node {
	return spec.Node{CPU: spec.MustQuantity(cpu), Memory: spec.MustQuantity(memory), EvictionHard: spec.MustQuantity("100Mi")}
}

func res(strategy spec.Strategy, factor float64) spec.Resources {
	return spec.Resources{Strategy: strategy, Factor: factor, Headroom: spec.ResourceList{CPU: spec.MustQuantity("100m"), Memory: spec.MustQuantity("64Mi")}}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name      string
		node      spec.Node
		resources spec.Resources
		fits      bool
		check     func(t *testing.T, p *Plan)
	}{
		{"none keeps upstream and does not fit one CPU", node("1", "1536Mi"), res(spec.StrategyNone, 0), false, func(t *testing.T, p *Plan) {
			w, _ := p.Lookup("knative-serving", "activator", "activator")
			if w.Requests != w.OriginalRequests || w.Limits != w.OriginalLimits {
				t.Errorf("strategy none changed activator: %+v", w)
			}
			// 300 + 100 + 200 + max(250, 400 init) = 1000m > 850m allocatable
			if p.Totals.Requests.CPUMilli != 1000 {
				t.Errorf("requests = %dm, want 1000m (init container counted as max)", p.Totals.Requests.CPUMilli)
			}
		}},
		{"fit lowers requests to leave headroom", node("1", "1536Mi"), res(spec.StrategyFit, 0), true, func(t *testing.T, p *Plan) {
			if p.Totals.Free.CPUMilli < 100 {
				t.Errorf("free CPU %dm, want at least the 100m headroom", p.Totals.Free.CPUMilli)
			}
			a, _ := p.Lookup("knative-serving", "activator", "activator")
			if a.Requests.CPUMilli >= 300 || a.Requests.CPUMilli < 25 {
				t.Errorf("activator CPU request %dm, want below 300m and not below its 25m floor", a.Requests.CPUMilli)
			}
			if a.Limits.CPUMilli != 1000 {
				t.Errorf("activator CPU limit %dm, want upstream's 1000m kept", a.Limits.CPUMilli)
			}
			s, _ := p.Lookup("metallb-system", "speaker", "speaker")
			if s.Requests != (Resources{}) {
				t.Errorf("speaker got requests %+v; fit must not invent them", s.Requests)
			}
			kr, _ := p.Lookup("kube-system", "kube-router", "kube-router")
			if kr.Requests != kr.OriginalRequests {
				t.Errorf("fit changed k0s's kube-router: %+v", kr.Requests)
			}
		}},
		{"scale halves requests and limits", node("2", "2Gi"), res(spec.StrategyScale, 0.5), true, func(t *testing.T, p *Plan) {
			w, _ := p.Lookup("knative-serving", "webhook", "webhook")
			if w.Requests != (Resources{50, 50 * mi}) || w.Limits != (Resources{250, 250 * mi}) {
				t.Errorf("webhook = %+v / %+v, want 50m/50Mi and 250m/250Mi", w.Requests, w.Limits)
			}
		}},
		{"scale warns when a memory limit drops below twice idle", node("2", "2Gi"), res(spec.StrategyScale, 0.05), true, func(t *testing.T, p *Plan) {
			if len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "below twice its idle working set") {
				t.Errorf("warnings = %v", p.Warnings)
			}
		}},
		{"fit cannot make a tiny node fit", node("300m", "512Mi"), res(spec.StrategyFit, 0), false, func(t *testing.T, p *Plan) {
			if p.Shortfall.CPUMilli <= 0 && p.Shortfall.MemoryBytes <= 0 {
				t.Errorf("shortfall = %+v, want positive", p.Shortfall)
			}
			for _, w := range p.Workloads {
				if w.Adjustable && w.OriginalRequests.CPUMilli > 0 && w.Requests.CPUMilli < ProfileFor(w).MinCPURequest {
					t.Errorf("%s below its CPU floor: %dm", w.ID(), w.Requests.CPUMilli)
				}
			}
			if !strings.Contains(p.Verdict(), "DOES NOT FIT") {
				t.Errorf("verdict = %q", p.Verdict())
			}
		}},
		{"fit keeps memory limits at least twice idle", node("1", "2Gi"), res(spec.StrategyFit, 0), true, func(t *testing.T, p *Plan) {
			for _, w := range p.Workloads {
				if w.Limits.MemoryBytes > 0 && w.Limits.MemoryBytes < 2*w.IdleMemoryBytes {
					t.Errorf("%s memory limit %d below twice idle %d", w.ID(), w.Limits.MemoryBytes, w.IdleMemoryBytes)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(Input{Node: tt.node, Resources: tt.resources, Workloads: stack()})
			if err != nil {
				t.Fatal(err)
			}
			if p.Fits != tt.fits {
				var b bytes.Buffer
				p.WriteTable(&b)
				t.Fatalf("fits = %v, want %v\n%s", p.Fits, tt.fits, b.String())
			}
			tt.check(t, p)
		})
	}
}

func TestReservation(t *testing.T) {
	n := spec.Node{CPU: spec.MustQuantity("1"), Memory: spec.MustQuantity("1Gi"), EvictionHard: spec.MustQuantity("100Mi"),
		Reserved: spec.ResourceList{CPU: spec.MustQuantity("200m"), Memory: spec.MustQuantity("400Mi")}}
	p, err := Compute(Input{Node: n, Resources: res(spec.StrategyNone, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Node.AllocatableCPUMilli != 800 || p.Node.AllocatableMemoryBytes != (1024-400-100)*mi || p.Node.ReservedComputed {
		t.Errorf("node = %+v, want allocatable 800m / 524Mi from the spec's reservation", p.Node)
	}
	p, _ = Compute(Input{Node: node("1", "1Gi"), Resources: res(spec.StrategyNone, 0), Workloads: stack()})
	if !p.Node.ReservedComputed || p.Node.ReservedMemoryBytes != controlPlaneMemory(5) {
		t.Errorf("computed reservation = %+v, want the control-plane table plus 5 shims", p.Node)
	}
}

func TestJSONFields(t *testing.T) {
	p, err := Compute(Input{Node: node("1", "1536Mi"), Resources: res(spec.StrategyFit, 0), Workloads: stack()})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fits", "node", "workloads", "totals"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	nodeDoc := doc["node"].(map[string]any)
	for _, k := range []string{"cpu_millis", "memory_bytes", "allocatable_cpu_millis", "allocatable_memory_bytes"} {
		if _, ok := nodeDoc[k]; !ok {
			t.Errorf("node lacks %q", k)
		}
	}
	w := doc["workloads"].([]any)[0].(map[string]any)
	for _, k := range []string{"namespace", "kind", "name", "container", "source", "requests", "limits", "original_requests", "original_limits"} {
		if _, ok := w[k]; !ok {
			t.Errorf("workload lacks %q", k)
		}
	}
	if _, ok := w["requests"].(map[string]any)["cpu_millis"]; !ok {
		t.Error("requests lacks cpu_millis")
	}
}
