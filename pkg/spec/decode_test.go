package spec

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const header = "apiVersion: edgeimg.io/v1alpha1\nkind: Image\n"

// aliasBomb is a small document whose aliases expand to 10^9 values.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString(header + "spec:\n  k0s:\n    config:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("      a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"only a separator", "---\n", []string{"bad.yaml", "empty document"}},
		{"only a comment", "# nothing\n", []string{"empty document"}},
		{"garbage after second document", header + "---\n[\n", []string{"malformed YAML after the first document"}},
		{"too big", header + "# " + strings.Repeat("x", MaxSize) + "\n", []string{"bad.yaml", "more than 1048576 bytes: expected a spec of at most 1 MiB"}},
		{"duplicate field", header + "spec:\n  board: rpi4\n  board: rpi4\n", []string{"bad.yaml:5", "spec.board", "set twice (first on line 4)"}},
		{"duplicate env key", header + "spec:\n  k0s:\n    env:\n      A: '1'\n      A: '2'\n", []string{"spec.k0s.env.A", "set twice"}},
		{"duplicate config key", header + "spec:\n  k0s:\n    config:\n      a: {b: 1, b: 2}\n", []string{"spec.k0s.config.a.b", "set twice"}},
		{"merge key", header + "spec:\n  node: &n {cpu: 1}\n  resources:\n    headroom:\n      <<: *n\n", []string{"spec.resources.headroom", "merge keys (<<) are not supported"}},
		{"alias bomb", aliasBomb(), []string{"spec.k0s.config", "more than 1048576 YAML values"}},
		{"alias cycle", header + "spec:\n  k0s:\n    config: &x {a: *x}\n", []string{"spec.k0s.config.a", "alias *x refers to a value that contains it"}},
		{"mapping as key", header + "spec:\n  ? {a: 1}\n  : x\n", []string{"spec", "a mapping as a key"}},
		{"null key", header + "spec:\n  k0s:\n    env:\n      ~: x\n", []string{"spec.k0s.env", "null"}},
		{"fractional integer", header + "spec:\n  node:\n    maxPods: 1.5\n", []string{"spec.node.maxPods", `"1.5" is not an integer`}},
		{"string for integer", header + "spec:\n  services:\n  - name: a\n    port: '80'\n", []string{"spec.services[0].port", "an integer"}},
		{"boolean", header + "spec:\n  ssh:\n    enabled: maybe\n", []string{"spec.ssh.enabled", "a boolean"}},
		{"map as list", header + "spec:\n  k0s:\n    env: [a]\n", []string{"spec.k0s.env", "expected a mapping, got a list"}},
		{"document is a list", "- a\n", []string{"(document)", "expected a mapping"}},
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

func TestDecodeAccepts(t *testing.T) {
	d, err := Parse("ok.yaml", []byte(header+`spec:
  node: &n
    cpu: 2
    memory: ~
  resources:
    headroom: *n
  k0s:
    env: {GOGC: "50", "<<": literal}
    config:
      spec:
        api: {port: 6443, sans: [a, *n]}
  metallb:
    addresses: ~
`))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Spec
	if s.Node.CPU.MilliValue() != 2000 || s.Node.Memory.String() != "1536Mi" {
		t.Errorf("node = %s/%s, want 2 and the default's 1536Mi (null keeps the default)", s.Node.CPU, s.Node.Memory)
	}
	if s.Resources.Headroom.CPU.MilliValue() != 2000 {
		t.Errorf("alias not followed: headroom.cpu = %s", s.Resources.Headroom.CPU)
	}
	if s.K0s.Env["GOGC"] != "50" || s.K0s.Env["<<"] != "literal" {
		t.Errorf("env = %v", s.K0s.Env)
	}
	api := s.K0s.Config["spec"].(map[string]any)["api"].(map[string]any)
	if api["port"] != 6443 || len(api["sans"].([]any)) != 2 {
		t.Errorf("config api = %#v", api)
	}
	if s.MetalLB.Addresses != nil {
		t.Errorf("null list kept %v, want it cleared", s.MetalLB.Addresses)
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	writeFile(t, path, header+"# "+strings.Repeat("x", 3*MaxSize)+"\n")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "more than 1048576 bytes") {
		t.Fatalf("Load = %v, want the size refused", err)
	}
}

// TestMarshalKeepsValues prints values that YAML printers get wrong or
// that read back as another type, and requires them back as they were.
func TestMarshalKeepsValues(t *testing.T) {
	d := Default()
	env := map[string]string{"LEADING_NEWLINE": "\n x", "YAML11_BOOL": "yes", "SEXAGESIMAL": "1:20", "BOOL": "true",
		"EMPTY": "", "LINES": "a\nb\n", "NUMBER": "010", "NULL": "null", "SPACE": " x ", "BINARY": "\xff\xfe"}
	d.Spec.K0s.Env = env
	d.Spec.K0s.Config = map[string]any{"when": time.Date(2001, 12, 14, 0, 0, 0, 0, time.UTC), "list": []any{1, 2.5, true, nil, "3"}}
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("printed.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(back.Spec.K0s.Env, env) {
		t.Errorf("env = %q, want %q\n%s", back.Spec.K0s.Env, env, data)
	}
	if !reflect.DeepEqual(back.Spec.K0s.Config, d.Spec.K0s.Config) {
		t.Errorf("config = %#v, want %#v\n%s", back.Spec.K0s.Config, d.Spec.K0s.Config, data)
	}
	for _, quoted := range []string{`"\n x"`, `"yes"`, `"1:20"`, `"true"`, `"010"`} {
		if !strings.Contains(string(data), quoted) {
			t.Errorf("print has no %s:\n%s", quoted, data)
		}
	}
}
