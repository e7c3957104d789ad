package spec

import (
	"strings"
	"testing"
)

// TestValidateAutoscaling: each KPA setting at and past Knative's bounds,
// set over the default spec's service with --set paths; a refusal names
// the field and the range.
func TestValidateAutoscaling(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want []string // nil: accepted
	}{
		{"everything set", []string{"services[0].minScale=1", "services[0].maxScale=5", "services[0].target=10", "services[0].metric=concurrency", "services[0].containerConcurrency=20", "services[0].initialScale=2", "services[0].scaleDownDelay=30s", "services[0].window=60s"}, nil},
		{"rps", []string{"services[0].metric=rps", "services[0].target=150.5"}, nil},
		{"window at Knative's minimum", []string{"services[0].window=6s"}, nil},
		{"window at Knative's maximum", []string{"services[0].window=1h"}, nil},
		{"scale-down delay 0s", []string{"services[0].scaleDownDelay=0s"}, nil},
		{"scale-down delay 1h", []string{"services[0].scaleDownDelay=60m"}, nil},
		{"containerConcurrency 0 (unlimited)", []string{"services[0].containerConcurrency=0"}, nil},
		{"containerConcurrency 1000", []string{"services[0].containerConcurrency=1000"}, nil},
		{"maxScale 0 (unlimited) beside minScale", []string{"services[0].minScale=3", "services[0].maxScale=0"}, nil},
		{"target 0.01", []string{"services[0].target=0.01"}, nil},

		{"min above max", []string{"services[0].minScale=4", "services[0].maxScale=2"}, []string{"spec.services[0].maxScale", "2 is below minScale 4"}},
		{"negative max", []string{"services[0].maxScale=-1"}, []string{"spec.services[0].maxScale", "-1: expected 0 (unlimited) or more"}},
		{"negative min", []string{"services[0].minScale=-1"}, []string{"spec.services[0].minScale", "expected 0 or more"}},
		{"target 0", []string{"services[0].target=0"}, []string{"spec.services[0].target", "0: expected more than 0"}},
		{"target negative", []string{"services[0].target=-5"}, []string{"spec.services[0].target", "-5: expected more than 0"}},
		{"target below Knative's minimum", []string{"services[0].target=0.001"}, []string{"spec.services[0].target", "Knative's minimum is 0.01"}},
		{"unknown metric", []string{"services[0].metric=latency"}, []string{"spec.services[0].metric", `"latency": expected concurrency or rps`}},
		{"HPA metric", []string{"services[0].metric=cpu"}, []string{"spec.services[0].metric", "HPA class"}},
		{"window 5s", []string{"services[0].window=5s"}, []string{"spec.services[0].window", "5s: expected 6s to 1h (Knative's range)"}},
		{"window 61m", []string{"services[0].window=61m"}, []string{"spec.services[0].window", "expected 6s to 1h"}},
		{"window not whole seconds", []string{"services[0].window=6500ms"}, []string{"spec.services[0].window", "whole seconds"}},
		{"window not a duration", []string{"services[0].window=60"}, []string{"spec.services[0].window", `"60": expected a duration`}},
		{"scale-down delay negative", []string{"services[0].scaleDownDelay=-1s"}, []string{"spec.services[0].scaleDownDelay", "expected 0s to 1h"}},
		{"scale-down delay 2h", []string{"services[0].scaleDownDelay=2h"}, []string{"spec.services[0].scaleDownDelay", "expected 0s to 1h"}},
		{"containerConcurrency negative", []string{"services[0].containerConcurrency=-1"}, []string{"spec.services[0].containerConcurrency", "expected 0 (unlimited) to 1000"}},
		{"containerConcurrency 1001", []string{"services[0].containerConcurrency=1001"}, []string{"spec.services[0].containerConcurrency", "1001"}},
		{"initialScale 0", []string{"services[0].initialScale=0"}, []string{"spec.services[0].initialScale", "allow-zero-initial-scale"}},
		{"initialScale negative", []string{"services[0].initialScale=-2"}, []string{"spec.services[0].initialScale", "expected 1 or more"}},
		{"initialScale above max", []string{"services[0].maxScale=3", "services[0].initialScale=4"}, []string{"spec.services[0].initialScale", "4 is above maxScale 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Default()
			for _, kv := range tt.set {
				path, value, _ := strings.Cut(kv, "=")
				if err := d.Set(path, value); err != nil {
					t.Fatalf("set %s: %v", kv, err)
				}
			}
			d.ApplyDefaults()
			err := d.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
