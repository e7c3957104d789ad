package k0sconfig_test

import (
	"strings"
	"testing"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
)

// TestFailCgroupV1: edgeimg leaves the kubelet's failCgroupV1 to upstream
// (unset: Kubernetes 1.35 and later refuse cgroup v1 hosts); a user sets
// it in the worker profile "default" through spec.k0s.config, where the
// 1.33 config API carries it (KubeletConfiguration has the field) and k0s
// validates it, merged with edgeimg's reservations.
func TestFailCgroupV1(t *testing.T) {
	profile := func(values string) string {
		return header + "spec:\n  k0s:\n    config:\n      workerProfiles:\n        - name: default\n          values: {" + values + "}\n"
	}
	tests := []struct {
		name     string
		spec     string
		fail     bool   // FailCgroupV1()
		inYAML   string // "" means failCgroupV1 is not in k0s.yaml at all
		reserved bool   // the plan's reservations are still in the profile
	}{
		{"default leaves it to upstream", header, true, "", true},
		{"user opts out", profile("failCgroupV1: false"), false, "failCgroupV1: false", true},
		{"user insists", profile("failCgroupV1: true"), true, "failCgroupV1: true", true},
		{"another profile does not count", header + "spec:\n  k0s:\n    config:\n      workerProfiles:\n        - name: other\n          values: {failCgroupV1: false}\n", true, "failCgroupV1: false", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseSpec(t, tt.spec)
			d.ApplyDefaults()
			c, err := k0sconfig.Build(d, k0sconfig.Reservations{CPUMilli: 250, MemoryBytes: 384 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.FailCgroupV1(); got != tt.fail {
				t.Errorf("FailCgroupV1() = %v, want %v", got, tt.fail)
			}
			out, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.inYAML == "" && strings.Contains(string(out), "failCgroupV1"):
				t.Errorf("k0s.yaml sets failCgroupV1 though the spec does not:\n%s", out)
			case tt.inYAML != "" && !strings.Contains(string(out), tt.inYAML):
				t.Errorf("k0s.yaml lacks %q:\n%s", tt.inYAML, out)
			}
			back, err := v1beta1.ConfigFromBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			if kc := defaultProfile(t, back); tt.reserved && kc.SystemReserved["cpu"] != "250m" {
				t.Errorf("profile default lost the reservations: %v", kc.SystemReserved)
			}
		})
	}
}
