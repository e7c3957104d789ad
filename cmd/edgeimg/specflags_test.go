package main

import (
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
