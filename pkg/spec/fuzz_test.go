package spec

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary documents to the spec decoder. A document
// either fails with an error or decodes into a spec whose printed form
// decodes again to the same print (decode -> encode -> decode is stable);
// validating it never panics.
func FuzzDecode(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte(header + "spec:\n  node: {cpu: 500m, memory: 1Gi, maxPods: 30}\n  k0s:\n    env: {GOGC: '50'}\n    config: {spec: {api: {port: 6443}}}\n"))
	f.Add([]byte(header + "spec:\n  services:\n  - name: a\n    image: example.com/a:1\n    minScale: 0\n    env: {A: \"\\n x\"}\n"))
	f.Add([]byte(header + "spec:\n  node: &n {cpu: 2}\n  resources: {headroom: *n}\n"))
	f.Add([]byte("---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		_ = d.Validate() // must not panic
		printed, err := d.Marshal()
		if err != nil {
			t.Fatalf("decoded spec does not print: %v", err)
		}
		if len(printed) > MaxSize {
			return // aliases expanded past the size limit
		}
		back, err := Parse("printed.yaml", printed)
		if err != nil {
			t.Fatalf("printed spec does not decode: %v\n%s", err, printed)
		}
		again, err := back.Marshal()
		if err != nil {
			t.Fatalf("decoded print does not print: %v", err)
		}
		if !bytes.Equal(printed, again) {
			t.Fatalf("decode -> encode -> decode is not stable:\n%s\n---\n%s", printed, again)
		}
		if copied, err := d.DeepCopy().Marshal(); err != nil || !bytes.Equal(printed, copied) {
			t.Fatalf("DeepCopy differs (%v):\n%s\n---\n%s", err, printed, copied)
		}
	})
}

// FuzzSet sets arbitrary values at arbitrary paths (--set PATH=VALUE). Set
// either fails or leaves a spec that prints and decodes to the same print.
func FuzzSet(f *testing.F) {
	for _, s := range [][2]string{
		{"node.memory", "1Gi"},
		{"spec.node.cpu", "1500m"},
		{"node.maxPods", "30"},
		{"metallb.addresses", "10.0.0.1/32, 10.0.1.0/24"},
		{"images.replace", "gcr.io/a=localhost:5000/a"},
		{"images.mirrors.docker.io", "mirror.local:5000"},
		{"k0s.env", "GODEBUG=madvdontneed=1"},
		{"ssh.enabled", "yes"},
		{"services[0].image", "example.com/app:1"},
		{"services[1].name", "second"},
		{"services[0].minScale", "0"},
		{"services[0].env.A", "\n x"},
		{"resources.factor", "0.5"},
		{"k0s.config", "x"},
		{"deploy.hosts[0].port", "22"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, value string) {
		d := Default()
		if err := d.Set(path, value); err != nil {
			return
		}
		d.ApplyDefaults()
		_ = d.Validate() // must not panic
		printed, err := d.Marshal()
		if err != nil {
			t.Fatalf("Set(%q, %q): spec does not print: %v", path, value, err)
		}
		back, err := Parse("printed.yaml", printed)
		if err != nil {
			t.Fatalf("Set(%q, %q): printed spec does not decode: %v\n%s", path, value, err, printed)
		}
		again, err := back.Marshal()
		if err != nil {
			t.Fatalf("Set(%q, %q): decoded print does not print: %v", path, value, err)
		}
		if !bytes.Equal(printed, again) {
			t.Fatalf("Set(%q, %q): print -> decode -> print is not stable:\n%s\n---\n%s", path, value, printed, again)
		}
	})
}
