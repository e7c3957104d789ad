package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	d := Default()
	if got := d.Spec.Node.Memory.String(); got != "1536Mi" {
		t.Errorf("node.memory = %q, want 1536Mi", got)
	}
	if got := d.Spec.Node.CPU.MilliValue(); got != 1000 {
		t.Errorf("node.cpu = %dm, want 1000m", got)
	}
	if d.Spec.Knative.Version != "1.23.0" || d.Spec.Kourier.Version != "1.23.0" || d.Spec.MetalLB.Version != "v0.15.3" {
		t.Errorf("versions = %s/%s/%s", d.Spec.Knative.Version, d.Spec.Kourier.Version, d.Spec.MetalLB.Version)
	}
	if len(d.Spec.Services) != 1 || d.Spec.Services[0].Name != "hello" || *d.Spec.Services[0].MinScale != 1 {
		t.Errorf("services = %+v, want the hello service with minScale 1", d.Spec.Services)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	d := Default()
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("printed", data)
	if err != nil {
		t.Fatalf("printed spec does not parse: %v\n%s", err, data)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("printed spec does not validate: %v", err)
	}
	again, _ := back.Marshal()
	if string(again) != string(data) {
		t.Errorf("print is not stable:\n%s\n---\n%s", data, again)
	}
}

func TestLoadOverridesDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgeimg.yaml")
	writeFile(t, path, `apiVersion: edgeimg.io/v1alpha1
kind: Image
spec:
  node:
    memory: 1Gi
  metallb:
    addresses: [10.0.0.16/28]
  services: []
`)
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Node.Memory.Value() != 1<<30 {
		t.Errorf("memory = %s", d.Spec.Node.Memory)
	}
	if d.Spec.Node.CPU.MilliValue() != 1000 {
		t.Errorf("cpu lost its default: %s", d.Spec.Node.CPU)
	}
	if len(d.Spec.Services) != 0 {
		t.Errorf("services: [] did not remove the default service")
	}
	if got := d.Spec.MetalLB.Addresses; len(got) != 1 || got[0] != "10.0.0.16/28" {
		t.Errorf("addresses = %v", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"malformed", "apiVersion: [", []string{"bad.yaml", "malformed YAML"}},
		{"empty", "", []string{"empty document"}},
		{"wrong kind", "apiVersion: edgeimg.io/v1alpha1\nkind: Pod\n", []string{"kind", `"Pod"`, "expected Image"}},
		{"wrong apiVersion", "apiVersion: v1\nkind: Image\n", []string{"apiVersion", "expected edgeimg.io/v1alpha1"}},
		{"unknown field", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  node:\n    cpus: 2\n", []string{"bad.yaml:5", "spec.node.cpus", "unknown field", "cpu, evictionHard, maxPods, memory, reserved"}},
		{"bad quantity", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  node:\n    memory: 1.5GB\n", []string{"bad.yaml:5", "spec.node.memory", `"1.5GB"`, "Kubernetes quantity"}},
		{"quantity as list", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  node:\n    memory: [1]\n", []string{"spec.node.memory", "got a list"}},
		{"int as string", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  node:\n    maxPods: many\n", []string{"spec.node.maxPods", "an integer"}},
		{"list as scalar", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  metallb:\n    addresses: 10.0.0.1\n", []string{"spec.metallb.addresses", "expected a list"}},
		{"unknown in list", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  services:\n  - name: a\n    imag: x\n", []string{"spec.services[0].imag", "unknown field"}},
		{"two documents", "apiVersion: edgeimg.io/v1alpha1\nkind: Image\n---\nkind: Image\n", []string{"second YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(s *Spec)
		want []string
	}{
		{"malformed range", func(s *Spec) { s.MetalLB.Addresses = []string{"10.0.0.300-10.0.0.5"} }, []string{"spec.metallb.addresses[0]", "expected a CIDR"}},
		{"backwards range", func(s *Spec) { s.MetalLB.Addresses = []string{"10.0.0.9-10.0.0.5"} }, []string{"spec.metallb.addresses[0]", "ends before it starts"}},
		{"mixed family", func(s *Spec) { s.MetalLB.Addresses = []string{"10.0.0.1-fd00::1"} }, []string{"both ends must be IPv4 or both IPv6"}},
		{"host bits", func(s *Spec) { s.MetalLB.Addresses = []string{"10.0.0.5/24"} }, []string{"host bits set", "10.0.0.0/24"}},
		{"overlap", func(s *Spec) { s.MetalLB.Addresses = []string{"10.0.0.0/28", "10.0.0.10-10.0.0.20"} }, []string{"spec.metallb.addresses[1]", "overlaps spec.metallb.addresses[0]"}},
		{"strategy", func(s *Spec) { s.Resources.Strategy = "shrink" }, []string{"spec.resources.strategy", "expected fit, scale or none"}},
		{"factor", func(s *Spec) { s.Resources.Strategy = StrategyScale; s.Resources.Factor = -1 }, []string{"spec.resources.factor"}},
		{"tiny node", func(s *Spec) { s.Node.Memory = MustQuantity("100Mi") }, []string{"spec.node.memory", "at least 256Mi"}},
		{"reserved too big", func(s *Spec) { s.Node.Reserved.CPU = MustQuantity("2") }, []string{"spec.node.reserved.cpu"}},
		{"k0s version", func(s *Spec) { s.K0s.Version = "1.33" }, []string{"spec.k0s.version", "v1.36.3+k0s.2"}},
		{"network", func(s *Spec) { s.K0s.Network = "calico" }, []string{"spec.k0s.network"}},
		{"k0s env name", func(s *Spec) { s.K0s.Env = map[string]string{"GO GC": "50"} }, []string{"spec.k0s.env.GO GC"}},
		{"k0s env value", func(s *Spec) { s.K0s.Env = map[string]string{"KUBE-APISERVER_GOGC": "50\nX=1"} }, []string{"spec.k0s.env.KUBE-APISERVER_GOGC"}},
		{"service dup", func(s *Spec) { s.Services = append(s.Services, s.Services[0]) }, []string{"spec.services[1].name", "unique"}},
		{"service image", func(s *Spec) { s.Services[0].Image = "ko://knative.dev/x" }, []string{"spec.services[0].image"}},
		{"format", func(s *Spec) { s.Output.Formats = []string{"iso"} }, []string{"spec.output.formats[0]", `"iso"`}},
		{"suite", func(s *Spec) { s.OS.Suite = "sid" }, []string{"spec.os.suite"}},
		{"ssh key", func(s *Spec) { s.SSH.Enabled = true; s.SSH.AuthorizedKeys = []string{"not a key"} }, []string{"spec.ssh.authorizedKeys[0]"}},
		{"deploy host", func(s *Spec) { s.Deploy.Hosts = []Host{{Address: "a b", Port: 70000, User: "x"}} }, []string{"spec.deploy.hosts[0].address", "spec.deploy.hosts[0].port"}},
		{"timeout", func(s *Spec) { s.Deploy.Timeout = "soon" }, []string{"spec.deploy.timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Default()
			tt.mod(&d.Spec)
			err := d.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAddressRange(t *testing.T) {
	tests := []struct{ in, from, to, first string }{
		{"192.168.10.0/24", "192.168.10.0", "192.168.10.255", "192.168.10.1"},
		{"192.168.10.240-192.168.10.250", "192.168.10.240", "192.168.10.250", "192.168.10.240"},
		{"10.1.2.3", "10.1.2.3", "10.1.2.3", "10.1.2.3"},
		{"10.0.0.16/28", "10.0.0.16", "10.0.0.31", "10.0.0.17"},
		{"fd00::/120", "fd00::", "fd00::ff", "fd00::"},
	}
	for _, tt := range tests {
		r, err := ParseAddressRange(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if r.From.String() != tt.from || r.To.String() != tt.to || r.FirstUsable().String() != tt.first {
			t.Errorf("%s = %s-%s first %s, want %s-%s first %s", tt.in, r.From, r.To, r.FirstUsable(), tt.from, tt.to, tt.first)
		}
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		path, value string
		check       func(*Spec) bool
	}{
		{"node.memory", "1Gi", func(s *Spec) bool { return s.Node.Memory.Value() == 1<<30 }},
		{"spec.node.cpu", "2", func(s *Spec) bool { return s.Node.CPU.MilliValue() == 2000 }},
		{"metallb.addresses", "10.0.0.1/32, 10.0.1.0/24", func(s *Spec) bool { return len(s.MetalLB.Addresses) == 2 }},
		{"images.replace", "gcr.io/a=localhost:5000/a", func(s *Spec) bool { return s.Images.Replace["gcr.io/a"] == "localhost:5000/a" }},
		{"images.mirrors.docker.io", "mirror.local:5000", func(s *Spec) bool { return s.Images.Mirrors["docker.io"] == "mirror.local:5000" }},
		{"ssh.enabled", "true", func(s *Spec) bool { return s.SSH.Enabled }},
		{"services[0].image", "example.com/app:1", func(s *Spec) bool { return s.Services[0].Image == "example.com/app:1" }},
		{"services[1].name", "second", func(s *Spec) bool { return len(s.Services) == 2 && s.Services[1].Name == "second" }},
		{"services[0].minScale", "0", func(s *Spec) bool { return *s.Services[0].MinScale == 0 }},
		{"resources.factor", "0.5", func(s *Spec) bool { return s.Resources.Factor == 0.5 }},
	}
	for _, tt := range tests {
		d := Default()
		if err := d.Set(tt.path, tt.value); err != nil {
			t.Errorf("Set(%s, %s): %v", tt.path, tt.value, err)
			continue
		}
		if !tt.check(&d.Spec) {
			t.Errorf("Set(%s, %s) did not take", tt.path, tt.value)
		}
	}
	bad := []struct{ path, value, want string }{
		{"node.memroy", "1Gi", "spec.node.memroy: unknown field"},
		{"node.memory", "lots", "spec.node.memory"},
		{"services[5].name", "x", "index out of range"},
		{"node.maxPods", "x", "an integer"},
		{"images.replace", "novalue", "KEY=VALUE"},
	}
	for _, b := range bad {
		err := Default().Set(b.path, b.value)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Set(%s, %s) = %v, want error containing %q", b.path, b.value, err, b.want)
		}
	}
}

func TestFieldsCoverSpec(t *testing.T) {
	flags := map[string]Field{}
	for _, f := range Fields() {
		if _, dup := flags[f.Flag]; dup {
			t.Errorf("duplicate flag %s", f.Flag)
		}
		flags[f.Flag] = f
		if f.Doc == "" {
			t.Errorf("field %s has no doc", f.Path)
		}
		if err := Default().Set(f.Path, sampleValue(f)); err != nil && !strings.Contains(err.Error(), "is not") {
			t.Errorf("field %s cannot be set: %v", f.Path, err)
		}
	}
	for _, want := range []string{"node-memory", "node-reserved-cpu", "metallb-addresses", "k0s-version", "images-insecure-registries", "resources-strategy", "os-packages", "disk-size"} {
		if _, ok := flags[want]; !ok {
			t.Errorf("no flag %s", want)
		}
	}
}

func sampleValue(f Field) string {
	switch {
	case f.Map:
		return "a=b"
	case f.Bool:
		return "true"
	}
	return "1"
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
