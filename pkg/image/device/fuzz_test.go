package device

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlEntries reads data with a real YAML parser and lists its values the
// way Read does (nulls and empty strings left out).
func yamlEntries(data []byte) ([]Entry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var out []Entry
	emit := func(path string, n *yaml.Node) {
		if n.Tag != "!!null" && n.Value != "" {
			out = append(out, Entry{path, n.Value})
		}
	}
	var walk func(path string, n *yaml.Node, depth int)
	walk = func(path string, n *yaml.Node, depth int) {
		switch n.Kind {
		case yaml.ScalarNode:
			emit(path, n)
		case yaml.SequenceNode:
			for _, it := range n.Content {
				emit(path+"[]", it)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if path != "" {
					k = path + "." + k
				}
				walk(k, n.Content[i+1], depth+1)
			}
		}
	}
	if len(doc.Content) > 0 {
		walk("", doc.Content[0], 0)
	}
	return out, nil
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParse: Parse never panics; every file the reader accepts means the
// same to a real YAML parser (the subset is strict); a config that passes
// is written back by Marshal into a file that reads as the same config.
func FuzzParse(f *testing.F) {
	for _, tc := range deviceCases {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Read(data)
		if err != nil {
			return
		}
		y, err := yamlEntries(data)
		if err != nil {
			t.Fatalf("Read accepted what YAML refuses (%v):\n%q", err, data)
		}
		if !sameEntries(entries, y) {
			t.Fatalf("Read and YAML disagree on\n%q\nRead: %q\nYAML: %q", data, entries, y)
		}
		c, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		m := c.Marshal()
		again, err := Parse("marshalled", m)
		if err != nil {
			t.Fatalf("Marshal wrote a file Parse refuses: %v\n%s", err, m)
		}
		if !bytes.Equal(again.Marshal(), m) {
			t.Fatalf("round trip changed the config:\n%s\nthen:\n%s", m, again.Marshal())
		}
	})
}

// fuzzCorpus returns the inputs checked in under testdata/fuzz/NAME.
func fuzzCorpus(t testing.TB, name string) map[string][]byte {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		head, arg, ok := strings.Cut(string(data), "\n")
		arg = strings.TrimSpace(arg)
		if !ok || head != "go test fuzz v1" || !strings.HasPrefix(arg, "[]byte(") || !strings.HasSuffix(arg, ")") {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		s, err := strconv.Unquote(arg[len("[]byte(") : len(arg)-1])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = []byte(s)
	}
	return out
}

// TestNodeReplaysFuzzCorpus runs FuzzParse's checked-in corpus through
// the node's device-config --check: the same output as Go for each. The
// inputs that are deviceCases are left to TestNodeAgreesWithGo.
func TestNodeReplaysFuzzCorpus(t *testing.T) {
	corpus := fuzzCorpus(t, "FuzzParse")
	for _, tc := range deviceCases {
		for name, data := range corpus {
			if string(data) == tc.doc {
				delete(corpus, name)
			}
		}
	}
	if len(corpus) < 50 {
		t.Fatalf("FuzzParse corpus has %d files beyond deviceCases: expected the checked-in corpus", len(corpus))
	}
	n := newNode(t)
	accepted := 0
	for name, data := range corpus {
		goOut, goOK := goCheck(data)
		nodeOut, nodeOK := n.check(t, data)
		if goOK {
			accepted++
		}
		if nodeOK != goOK || strings.Join(nodeOut, "\n") != strings.Join(goOut, "\n") {
			t.Errorf("%s %q:\nnode (ok=%v):\n%s\nGo (ok=%v):\n%s", name, data, nodeOK, strings.Join(nodeOut, "\n"), goOK, strings.Join(goOut, "\n"))
		}
	}
	t.Logf("%d corpus files, %d accepted by both", len(corpus), accepted)
}

// FuzzNodeAgrees runs each input through both sides (slow: a shell and
// two awk runs per input; 'make fuzz' material, seeds only in make test).
func FuzzNodeAgrees(f *testing.F) {
	f.Add([]byte("hostname: edge-01\n"))
	f.Add([]byte("network:\n  mode: static\n  address: 10.0.0.2/24\n  gateway: 10.0.0.1\n  dns: [10.0.0.1]\n"))
	f.Add([]byte("metallb:\n  addresses: ['10.0.0.0/28', 10.0.1.1-10.0.1.9]\nlabels:\n  a/b: c\n"))
	n := newNode(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		goOut, goOK := goCheck(data)
		nodeOut, nodeOK := n.check(t, data)
		if nodeOK != goOK || strings.Join(nodeOut, "\n") != strings.Join(goOut, "\n") {
			t.Fatalf("%q:\nnode (ok=%v):\n%s\nGo (ok=%v):\n%s", data, nodeOK, strings.Join(nodeOut, "\n"), goOK, strings.Join(goOut, "\n"))
		}
	})
}
