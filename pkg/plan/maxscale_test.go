package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// withServices adds one Knative Service pod per name to the stack: the
// user's container with the given requests and queue-proxy with 25m.
func withServices(req Resources, names ...string) ([]Workload, []Service) {
	ws := stack()
	var svcs []Service
	for i, n := range names {
		src := "spec.services[" + string(rune('0'+i)) + "]"
		ws = append(ws,
			Workload{Namespace: "default", Kind: "Service.serving.knative.dev", Name: n, Container: "user-container", Source: src, OriginalRequests: req},
			Workload{Namespace: "default", Kind: "Service.serving.knative.dev", Name: n, Container: QueueProxyContainer, Source: "knative-serving 1.23.0 (config-deployment)", Adjustable: true, OriginalRequests: Resources{CPUMilli: 25}})
		svcs = append(svcs, Service{Source: src, Namespace: "default", Kind: "Service.serving.knative.dev", Name: n})
	}
	return ws, svcs
}

func TestMaxScale(t *testing.T) {
	ptr := func(n int) *int { return &n }
	tests := []struct {
		name     string
		node     spec.Node
		strategy spec.Strategy
		req      Resources
		names    []string
		set      func([]Service)
		fits     bool
		check    func(t *testing.T, p *Plan)
	}{
		{"a set cap that fits", node("2", "4Gi"), spec.StrategyFit, Resources{50, 32 * mi}, []string{"a"}, func(s []Service) { s[0].Max = ptr(4) }, true, func(t *testing.T, p *Plan) {
			sc := p.MaxScale.Services[0]
			if sc.Derived || sc.Max != 4 {
				t.Errorf("service %+v, want the spec's max 4", sc)
			}
			// Four pods instead of one: three more of each pod's requests.
			if want := p.Totals.Requests.Add(mulPods(sc.Pod, 3)); p.MaxScale.Requests != want {
				t.Errorf("requests at max scale %+v, want %+v", p.MaxScale.Requests, want)
			}
		}},
		{"a set cap past the node", node("1", "1536Mi"), spec.StrategyFit, Resources{100, 64 * mi}, []string{"a"}, func(s []Service) { s[0].Max = ptr(20) }, false, func(t *testing.T, p *Plan) {
			if v := p.MaxScaleVerdict(); !strings.Contains(v, "DOES NOT FIT") || !strings.Contains(v, "CPU requests exceed allocatable") {
				t.Errorf("verdict %q", v)
			}
			if !p.Fits {
				t.Error("the idle plan should still fit: only max scale does not")
			}
		}},
		{"derived cap fills the room and fits", node("2", "4Gi"), spec.StrategyFit, Resources{50, 32 * mi}, []string{"a"}, nil, true, func(t *testing.T, p *Plan) {
			sc := p.MaxScale.Services[0]
			if !sc.Derived || sc.Max < 2 {
				t.Fatalf("service %+v, want a derived cap of 2 or more", sc)
			}
			// One more pod would not fit, in CPU or in memory.
			free := p.MaxScale.Free
			room := p.Node.MemoryBytes - p.Node.EvictionHardBytes - p.MaxScale.ExpectedMemoryBytes
			if free.CPUMilli >= sc.PodCost.CPUMilli && min(free.MemoryBytes, room) >= sc.PodCost.MemoryBytes {
				t.Errorf("cap %d leaves room for another pod: free %+v, memory room %d, pod %+v", sc.Max, free, room, sc.PodCost)
			}
		}},
		{"derived caps share the room", node("2", "4Gi"), spec.StrategyFit, Resources{50, 32 * mi}, []string{"a", "b"}, nil, true, func(t *testing.T, p *Plan) {
			a, b := p.MaxScale.Services[0], p.MaxScale.Services[1]
			if !a.Derived || !b.Derived || a.Max != b.Max {
				t.Errorf("services %+v and %+v, want equal derived caps", a, b)
			}
		}},
		{"derived cap is at least minScale", node("1", "1536Mi"), spec.StrategyFit, Resources{400, 256 * mi}, []string{"a"}, func(s []Service) { s[0].Min = 2 }, false, func(t *testing.T, p *Plan) {
			if sc := p.MaxScale.Services[0]; sc.Max != 2 {
				t.Errorf("service %+v, want max 2 (minScale, the room is gone)", sc)
			}
		}},
		{"maxScale 0 is unbounded", node("2", "4Gi"), spec.StrategyFit, Resources{50, 32 * mi}, []string{"a"}, func(s []Service) { s[0].Max = ptr(0) }, false, func(t *testing.T, p *Plan) {
			if sc := p.MaxScale.Services[0]; !sc.Unbounded || sc.Derived {
				t.Errorf("service %+v, want unbounded", sc)
			}
			if !strings.Contains(p.MaxScaleVerdict(), "UNBOUNDED") || !strings.Contains(strings.Join(p.Warnings, "\n"), "maxScale 0 (unlimited)") {
				t.Errorf("verdict %q, warnings %q", p.MaxScaleVerdict(), p.Warnings)
			}
		}},
		{"strategy none derives nothing", node("4", "8Gi"), spec.StrategyNone, Resources{50, 32 * mi}, []string{"a"}, nil, false, func(t *testing.T, p *Plan) {
			if sc := p.MaxScale.Services[0]; !sc.Unbounded || sc.Derived {
				t.Errorf("service %+v, want unbounded (strategy none changes nothing)", sc)
			}
		}},
		{"no memory request: counted, and said", node("2", "4Gi"), spec.StrategyFit, Resources{50, 0}, []string{"a"}, nil, true, func(t *testing.T, p *Plan) {
			sc := p.MaxScale.Services[0]
			if sc.PodCost.MemoryBytes != 6*mi+shimMemory+16*mi {
				t.Errorf("pod memory counted %d, want queue-proxy 6Mi + shim + 16Mi", sc.PodCost.MemoryBytes)
			}
			if !strings.Contains(strings.Join(p.Warnings, "\n"), "sets no requests.memory") {
				t.Errorf("warnings %q", p.Warnings)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, svcs := withServices(tt.req, tt.names...)
			if tt.set != nil {
				tt.set(svcs)
			}
			p, err := Compute(Input{Node: tt.node, Resources: res(tt.strategy, 0), Workloads: ws, Services: svcs})
			if err != nil {
				t.Fatal(err)
			}
			if p.MaxScale.Fits != tt.fits {
				t.Errorf("fits at max scale = %v, want %v: %s", p.MaxScale.Fits, tt.fits, p.MaxScaleVerdict())
			}
			tt.check(t, p)
			var b bytes.Buffer
			if err := p.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "AT MAX SCALE") || !strings.Contains(b.String(), "at max scale: ") {
				t.Errorf("plan table has no max-scale section:\n%s", b.String())
			}
		})
	}
}
