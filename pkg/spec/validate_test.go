package spec

import (
	"strings"
	"testing"
)

// TestValidateRefusesSurprises: every value that used to be accepted and
// silently meant something else is refused, naming the field and what is
// expected. Each case is a list of --set assignments over the default.
func TestValidateRefusesSurprises(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want []string // in the error: the field first
	}{
		{"system namespace", []string{"services[0].namespace=kube-system"}, []string{"spec.services[0].namespace", "system namespace", "kube-system"}},
		{"knative namespace", []string{"services[0].namespace=knative-serving"}, []string{"spec.services[0].namespace", "system namespace"}},
		{"PORT env", []string{"services[0].env.PORT=9000"}, []string{"spec.services[0].env.PORT", "set by Knative"}},
		{"K_SERVICE env", []string{"services[0].env.K_SERVICE=x"}, []string{"spec.services[0].env.K_SERVICE", "K_REVISION"}},
		{"queue-proxy port", []string{"services[0].port=8012"}, []string{"spec.services[0].port", "8012 is a port of Knative's queue-proxy", "9091"}},
		{"metrics port", []string{"services[0].port=9090"}, []string{"spec.services[0].port", "queue-proxy"}},
		{"cpu request over limit", []string{"services[0].requests.cpu=2", "services[0].limits.cpu=1"}, []string{"spec.services[0].requests.cpu", "above limits.cpu 1"}},
		{"memory request over limit", []string{"services[0].requests.memory=1Gi", "services[0].limits.memory=512Mi"}, []string{"spec.services[0].requests.memory", "above limits.memory 512Mi"}},
		{"memory 1Ei", []string{"node.memory=1Ei"}, []string{"spec.node.memory", "expected at most 16Ti"}},
		{"memory 1e100", []string{"node.memory=1e100"}, []string{"spec.node.memory", "expected at most 16Ti"}},
		{"cpu 1e9", []string{"node.cpu=1e9"}, []string{"spec.node.cpu", "expected at most 1024 CPUs"}},
		{"service limit 1e100", []string{"services[0].limits.memory=1e100"}, []string{"spec.services[0].limits.memory", "at most 16Ti"}},
		{"headroom cpu", []string{"resources.headroom.cpu=2000"}, []string{"spec.resources.headroom.cpu", "at most 1024"}},
		{"disk 1Ei", []string{"disk.size=1Ei"}, []string{"spec.disk.size", "at most 64Ti"}},
		{"IPv6 pool", []string{"metallb.addresses=fd00::/120"}, []string{"spec.metallb.addresses[0]", "IPv6 pools are not supported", "expected IPv4"}},
		{"zoned IPv6", []string{"metallb.addresses=fe80::1%eth0"}, []string{"spec.metallb.addresses[0]", "IPv6"}},
		{"IPv4-mapped IPv6", []string{"metallb.addresses=::ffff:10.0.0.1"}, []string{"spec.metallb.addresses[0]", "IPv6"}},
		{"IPv6 range", []string{"metallb.addresses=fd00::1-fd00::9"}, []string{"spec.metallb.addresses[0]", "IPv6"}},
		{"knative kubernetes minimum not a minor", []string{"knative.kubernetesMinVersion=v1.33.0"}, []string{"spec.knative.kubernetesMinVersion", "expected a Kubernetes minor such as 1.33"}},
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
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "at least 256Mi") {
				t.Errorf("an overflowing quantity reads as too small:\n%v", err)
			}
		})
	}
}

// TestValidateAcceptsEdges: the values next to the refused ones pass.
func TestValidateAcceptsEdges(t *testing.T) {
	for _, set := range [][]string{
		{"services[0].namespace=apps"},
		{"services[0].env.PORTS=1", "services[0].env.MY_K_VAR=1"},
		{"services[0].port=8080"},
		{"services[0].requests.cpu=1", "services[0].limits.cpu=1", "services[0].requests.memory=512Mi", "services[0].limits.memory=512Mi"},
		{"node.memory=16Ti", "node.cpu=1024"},
		{"metallb.addresses=10.0.0.1,10.0.0.2"},
		{"metallb.addresses=10.0.0.240-10.0.0.250"},
	} {
		d := Default()
		for _, kv := range set {
			path, value, _ := strings.Cut(kv, "=")
			if err := d.Set(path, value); err != nil {
				t.Fatalf("set %s: %v", kv, err)
			}
		}
		d.ApplyDefaults()
		if err := d.Validate(); err != nil {
			t.Errorf("%v: %v", set, err)
		}
	}
}

func TestValidateCatalog(t *testing.T) {
	cat := Catalog{Boards: []string{"rpi4", "x86_64-efi"}, Unsupported: map[string]string{"rpi5": "no firmware yet\n"}, K0sVersions: []string{"v1.33.8+k0s.1"}}
	tests := []struct {
		board, k0s string
		want       []string // "" none
	}{
		{"x86_64-efi", "v1.33.8+k0s.1", nil},
		{"rpi9", "v1.33.8+k0s.1", []string{"spec.board", `"rpi9": unknown board: expected one of rpi4, x86_64-efi`}},
		{"rpi5", "v1.33.8+k0s.1", []string{"spec.board", "not supported: no firmware yet"}},
		{"rpi4", "v1.99.0+k0s.1", []string{"spec.k0s.version", `"v1.99.0+k0s.1": unknown k0s release: expected one of v1.33.8+k0s.1`}},
	}
	for _, tt := range tests {
		d := Default()
		d.Spec.Board, d.Spec.K0s.Version = tt.board, tt.k0s
		err := d.ValidateCatalog(cat)
		if (err == nil) != (tt.want == nil) {
			t.Fatalf("%s %s: %v", tt.board, tt.k0s, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: error lacks %q: %v", tt.board, tt.k0s, w, err)
			}
		}
	}
}

// TestValidateCatalogKubernetes: a stack release refuses a k0s whose
// Kubernetes is outside its range, naming the stack's field, the range and
// spec.k0s.version; a release or k0s the catalog has no range for is not
// judged.
func TestValidateCatalogKubernetes(t *testing.T) {
	cat := Catalog{
		Boards:      []string{"x86_64-efi"},
		K0sVersions: []string{"v1.33.8+k0s.1", "v1.35.7+k0s.0", "v1.36.3+k0s.2", "v1.37.1+k0s.0", "v1.12.0+k0s.0"},
		Kubernetes:  map[string]string{"v1.33.8+k0s.1": "1.33.8", "v1.35.7+k0s.0": "1.35.7", "v1.36.3+k0s.2": "1.36.3", "v1.37.1+k0s.0": "1.37.1", "v1.12.0+k0s.0": "1.12.0"},
		Stacks: map[string]map[string]KubeRange{
			"spec.knative.version": {"1.23.0": {Min: "1.34", Max: "1.36", Source: "knative says"}},
			"spec.kourier.version": {"1.23.0": {Min: "1.34", Max: "1.36", Source: "follows Knative"}},
			"spec.metallb.version": {"v0.15.3": {Min: "1.13", Source: "metallb says"}},
		},
	}
	tests := []struct {
		k0s, knative string
		kubeMin      string   // spec.knative.kubernetesMinVersion
		want         []string // "" none
	}{
		{"v1.36.3+k0s.2", "1.23.0", "", nil},
		{"v1.35.7+k0s.0", "1.23.0", "", nil},
		{"v1.33.8+k0s.1", "1.23.0", "", []string{
			"spec.knative.version: 1.23.0 supports Kubernetes 1.34 to 1.36 (knative says), but spec.k0s.version v1.33.8+k0s.1 runs Kubernetes 1.33.8: choose a k0s release on Kubernetes 1.34 to 1.36 ('edgeimg versions') or a release of knative that supports 1.33",
			"spec.kourier.version: 1.23.0 supports Kubernetes 1.34 to 1.36 (follows Knative)"}},
		{"v1.37.1+k0s.0", "1.23.0", "", []string{"spec.knative.version", "runs Kubernetes 1.37.1"}},
		{"v1.12.0+k0s.0", "1.23.0", "", []string{"spec.metallb.version: v0.15.3 supports Kubernetes 1.13 or later (metallb says)"}},
		{"v1.33.8+k0s.1", "1.22.0", "", []string{"spec.kourier.version"}}, // no range for Knative 1.22: not judged
		// The user lowers Knative's and Kourier's minimum, not MetalLB's,
		// nor their maximum.
		{"v1.33.8+k0s.1", "1.23.0", "1.33", nil},
		{"v1.33.8+k0s.1", "1.23.0", "1.34", []string{"spec.knative.version"}},
		{"v1.37.1+k0s.0", "1.23.0", "1.33", []string{"spec.knative.version", "runs Kubernetes 1.37.1"}},
		{"v1.12.0+k0s.0", "1.23.0", "1.12", []string{"spec.metallb.version"}},
	}
	for _, tt := range tests {
		d := Default()
		d.Spec.K0s.Version, d.Spec.Knative.Version = tt.k0s, tt.knative
		d.Spec.Knative.KubernetesMinVersion = tt.kubeMin
		err := d.ValidateCatalog(cat)
		if (err == nil) != (tt.want == nil) {
			t.Fatalf("%s %s: %v", tt.k0s, tt.knative, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: error lacks %q: %v", tt.k0s, tt.knative, w, err)
			}
		}
	}
}
