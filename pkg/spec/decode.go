package spec

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default spec as written.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default spec, defaulted and validated.
func Default() *Document {
	d, err := decode("embedded default spec", defaultYAML, nil)
	if err != nil {
		panic(fmt.Sprintf("embedded default spec: %v", err))
	}
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		panic(fmt.Sprintf("embedded default spec: %v", err))
	}
	return d
}

// Load reads the spec at path over the embedded default: fields the file
// sets replace the default's, lists are replaced whole. An empty path means
// the embedded default alone. The result is defaulted but not validated,
// so that flags can still be applied; call Validate afterwards.
func Load(path string) (*Document, error) {
	base, err := decode("embedded default spec", defaultYAML, nil)
	if err != nil {
		return nil, err
	}
	if path != "" {
		data, err := readSpec(path)
		if err != nil {
			return nil, err
		}
		if base, err = decode(path, data, base); err != nil {
			return nil, err
		}
	}
	base.ApplyDefaults()
	return base, nil
}

// readSpec reads the file at path, at most one byte more than MaxSize, so
// that a huge file (or a device) is refused by decode without being read
// whole.
func readSpec(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", path, err)
	}
	return data, nil
}

// Parse decodes a spec document from data (named name in errors) over the
// embedded default, like Load.
func Parse(name string, data []byte) (*Document, error) {
	base, err := decode("embedded default spec", defaultYAML, nil)
	if err != nil {
		return nil, err
	}
	if base, err = decode(name, data, base); err != nil {
		return nil, err
	}
	base.ApplyDefaults()
	return base, nil
}

// decode strictly decodes one YAML document over base (or a new Document
// when base is nil); base is modified.
func decode(name string, data []byte, base *Document) (*Document, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: more than %d bytes: expected a spec of at most 1 MiB", name, MaxSize)
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptyDocument(name)
		}
		return nil, fmt.Errorf("%s: malformed YAML: %w", name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document: expected exactly one edgeimg spec", name, extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s: malformed YAML after the first document: %w", name, err)
	}
	if len(root.Content) != 1 {
		return nil, emptyDocument(name)
	}
	doc := root.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
		return nil, emptyDocument(name)
	}
	out := base
	if out == nil {
		out = &Document{}
	}
	if err := newNodeDecoder(name).decode(doc, reflect.ValueOf(out).Elem(), ""); err != nil {
		return nil, err
	}
	if out.APIVersion != APIVersion {
		return nil, fmt.Errorf("%s: apiVersion: %q: expected %s", name, out.APIVersion, APIVersion)
	}
	if out.Kind != Kind {
		return nil, fmt.Errorf("%s: kind: %q: expected %s", name, out.Kind, Kind)
	}
	return out, nil
}

func emptyDocument(name string) error {
	return fmt.Errorf("%s: empty document: expected an edgeimg spec (apiVersion: %s, kind: %s)", name, APIVersion, Kind)
}

// FieldError is a problem with one field of the spec.
type FieldError struct {
	File  string // file name, if known
	Line  int    // line in the file, if known
	Field string // dotted path: spec.node.memory, spec.metallb.addresses[1]
	Msg   string // what is wrong and what was expected
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Marshal renders the document as YAML.
func (d *Document) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	n, err := encodeNode(reflect.ValueOf(d))
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	return buf.Bytes(), nil
}

// DeepCopy copies the document through its YAML form, which covers every
// field by construction.
func (d *Document) DeepCopy() *Document {
	data, err := d.Marshal()
	if err != nil {
		panic(fmt.Sprintf("copy spec: %v", err))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		panic(fmt.Sprintf("copy spec: %v", err))
	}
	out := &Document{}
	if err := newNodeDecoder("copy").decode(root.Content[0], reflect.ValueOf(out).Elem(), ""); err != nil {
		panic(fmt.Sprintf("copy spec: %v", err))
	}
	return out
}
