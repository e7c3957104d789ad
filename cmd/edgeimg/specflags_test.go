package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestCommaLists: the flag parser never splits a value on commas; a value
// is split only where the field is a list.
func TestCommaLists(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in the defaulted spec
		not  []string
	}{
		{"k0s-env keeps commas", []string{"--k0s-env", "GODEBUG=madvdontneed=1,gctrace=1"},
			[]string{"GODEBUG: madvdontneed=1,gctrace=1"}, []string{"gctrace=1:"}},
		{"--set map keeps commas", []string{"--set", "k0s.env.GODEBUG=madvdontneed=1,gctrace=1"},
			[]string{"GODEBUG: madvdontneed=1,gctrace=1"}, nil},
		{"--set list splits", []string{"--set", "metallb.addresses=10.0.0.1,10.0.0.2"},
			[]string{"addresses:\n      - 10.0.0.1\n      - 10.0.0.2\n"}, nil},
		{"list flag splits", []string{"--metallb-addresses", "10.0.0.1, 10.0.0.2"},
			[]string{"addresses:\n      - 10.0.0.1\n      - 10.0.0.2\n"}, nil},
		{"list flag repeated", []string{"--metallb-addresses", "10.0.0.1", "--metallb-addresses", "10.0.0.2"},
			[]string{"addresses:\n      - 10.0.0.1\n      - 10.0.0.2\n"}, nil},
		{"--set string keeps commas", []string{"--set", "services[0].env.LIST=a,b"},
			[]string{"LIST: a,b"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runApp(t, append([]string{"spec"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("spec lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("spec has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCommaListFlags: the flags documented as comma-separated split, the
// ones whose values may hold commas do not.
func TestCommaListFlags(t *testing.T) {
	tests := []struct {
		flag string
		args []string
		list bool // split on commas
		want []string
	}{
		{"host", []string{"--host", "a@h1,b@h2", "--host", "h3"}, true, []string{"a@h1", "b@h2", "h3"}},
		{"format", []string{"--format", "img.zst, img.xz"}, true, []string{"img.zst", "img.xz"}},
		{"install-flag", []string{"--install-flag", "--labels=a=1,b=2"}, false, []string{"--labels=a=1,b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			var got []string
			app := newApp()
			app.Commands = []*cli.Command{{
				Name:  "x",
				Flags: []cli.Flag{&cli.StringSliceFlag{Name: tt.flag}},
				Action: func(c *cli.Context) error {
					if tt.list {
						got = commaList(c, tt.flag)
					} else {
						got = c.StringSlice(tt.flag)
					}
					return nil
				},
			}}
			if err := app.Run(append([]string{"edgeimg", "x"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSpecRefuses: what spec, plan and manifests used to accept silently
// is refused by all three, naming the field and the known values.
func TestSpecRefuses(t *testing.T) {
	dir := t.TempDir()
	dashes := filepath.Join(dir, "dashes.yaml")
	if err := os.WriteFile(dashes, []byte("---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown board", []string{"--board", "rpi9"}, []string{"spec.board", `"rpi9": unknown board: expected one of`, "x86_64-efi"}},
		{"unknown k0s", []string{"--k0s-version", "v1.99.0+k0s.1"}, []string{"spec.k0s.version", "unknown k0s release: expected one of v1.36.3+k0s.2, v1.35.7+k0s.0, v1.33.8+k0s.1"}},
		{"system namespace", []string{"--set", "services[0].namespace=kube-system"}, []string{"spec.services[0].namespace", "system namespace"}},
		{"PORT", []string{"--set", "services[0].env.PORT=1"}, []string{"spec.services[0].env.PORT"}},
		{"port 8012", []string{"--set", "services[0].port=8012"}, []string{"spec.services[0].port", "queue-proxy"}},
		{"requests over limits", []string{"--set", "services[0].requests.cpu=2", "--set", "services[0].limits.cpu=1"}, []string{"spec.services[0].requests.cpu"}},
		{"fractional maxPods", []string{"--set", "node.maxPods=1.5"}, []string{"spec.node.maxPods", "not an integer"}},
		{"memory 1Ei", []string{"--node-memory", "1Ei"}, []string{"spec.node.memory", "at most 16Ti"}},
		{"memory 1e100", []string{"--node-memory", "1e100"}, []string{"spec.node.memory", "at most 16Ti"}},
		{"cpu 1e9", []string{"--node-cpu", "1e9"}, []string{"spec.node.cpu", "at most 1024"}},
		{"only ---", []string{"-f", dashes}, []string{"dashes.yaml", "empty document"}},
		{"IPv6 pool", []string{"--metallb-addresses", "fd00::/120"}, []string{"spec.metallb.addresses[0]", "IPv6 pools are not supported"}},
	}
	for _, tt := range tests {
		for _, cmd := range [][]string{{"spec"}, {"plan"}, {"manifests", "-o", filepath.Join(dir, "out")}} {
			t.Run(tt.name+" "+cmd[0], func(t *testing.T) {
				out, err := runApp(t, append(cmd, tt.args...)...)
				if err == nil {
					t.Fatalf("accepted:\n%s", out)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
					t.Error("manifests wrote its output")
				}
			})
		}
	}
}

// TestServiceNamespaceCreated: a service in a namespace of the user's own
// gets a Namespace object in a live stack, applied before the staged
// services are promoted; default gets none.
func TestServiceNamespaceCreated(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		ns   string
		want bool
	}{{"apps", true}, {"default", false}} {
		out := filepath.Join(dir, tt.ns)
		if text, err := runApp(t, "manifests", "-o", out, "--set", "services[0].namespace="+tt.ns); err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		data, err := os.ReadFile(filepath.Join(out, "var/lib/k0s/manifests/service-namespaces/namespaces.yaml"))
		if err != nil && tt.want {
			t.Fatal(err)
		}
		got := strings.Contains(string(data), "kind: Namespace")
		if got != tt.want || (tt.want && !strings.Contains(string(data), "name: "+tt.ns)) {
			t.Errorf("namespace %s: Namespace object %v, want %v:\n%s", tt.ns, got, tt.want, data)
		}
	}
}
