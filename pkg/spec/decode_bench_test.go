package spec

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// wideSpec is a spec whose k0s.env (section "env") or k0s.config
// (section "config") has n keys: the shape that made decoding quadratic.
func wideSpec(section string, n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  k0s:\n    " + section + ":\n")
	for i := range n {
		fmt.Fprintf(&b, "      K%06d: \"%d\"\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkDecode parses specs with many keys in one mapping; the time per
// operation must grow linearly with the number of keys. The yaml.v3 cases
// decode the same documents with yaml.v3's Node.Decode, which Parse used
// before (it compares every key of a mapping with every other), for
// comparison.
func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		data []byte
	}{
		{"default", defaultYAML},
		{"env-10k", wideSpec("env", 10_000)},
		{"env-40k", wideSpec("env", 40_000)},
		{"config-wide-20k", wideSpec("config", 20_000)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := Parse("bench.yaml", c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range cases[1:] {
		b.Run("yaml.v3/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				var root yaml.Node
				if err := yaml.Unmarshal(c.data, &root); err != nil {
					b.Fatal(err)
				}
				if err := root.Content[0].Decode(&Document{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
