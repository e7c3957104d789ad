package spec

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
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
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		if base, err = decode(path, data, base); err != nil {
			return nil, err
		}
	}
	base.ApplyDefaults()
	return base, nil
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

// decode strictly decodes one YAML document into a copy of base (or a new
// Document when base is nil).
func decode(name string, data []byte, base *Document) (*Document, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty document: expected an edgeimg spec (apiVersion: %s, kind: %s)", name, APIVersion, Kind)
		}
		return nil, fmt.Errorf("%s: malformed YAML: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document: expected exactly one edgeimg spec", name, extra.Line)
	}
	doc := root.Content[0]
	if err := check(name, doc, reflect.TypeOf(Document{}), ""); err != nil {
		return nil, err
	}
	out := &Document{}
	if base != nil {
		out = base.DeepCopy()
	}
	if err := doc.Decode(out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if out.APIVersion != APIVersion {
		return nil, fmt.Errorf("%s: apiVersion: %q: expected %s", name, out.APIVersion, APIVersion)
	}
	if out.Kind != Kind {
		return nil, fmt.Errorf("%s: kind: %q: expected %s", name, out.Kind, Kind)
	}
	return out, nil
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

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// check walks the YAML node along type t, rejecting unknown fields and
// values of the wrong shape with the field's path.
func check(file string, n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	fail := func(line int, format string, args ...any) error {
		field := path
		if field == "" {
			field = "(document)"
		}
		return &FieldError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			return fail(n.Line, "%s", err.Error())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return check(file, n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail(n.Line, "expected a mapping, got a %s", kindName(n))
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				return &FieldError{File: file, Line: k.Line, Field: join(path, k.Value),
					Msg: fmt.Sprintf("unknown field; expected one of: %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "))}
			}
			if err := check(file, v, f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail(n.Line, "expected a list, got a %s", kindName(n))
		}
		for i, c := range n.Content {
			if err := check(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail(n.Line, "expected a mapping, got a %s", kindName(n))
		}
		if t.Elem().Kind() == reflect.Interface {
			return nil // free-form (k0s.config)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := check(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Interface:
		return nil
	default:
		if n.Kind != yaml.ScalarNode {
			return fail(n.Line, "expected %s, got a %s", scalarName(t), kindName(n))
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			return fail(n.Line, "%q is not %s", n.Value, scalarName(t))
		}
		return nil
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("scalar %q", n.Value)
	}
	return "value"
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a string"
}

// yamlFields maps yaml keys to struct fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// Marshal renders the document as YAML.
func (d *Document) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
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
	data, err := yaml.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("copy spec: %v", err))
	}
	out := &Document{}
	if err := yaml.Unmarshal(data, out); err != nil {
		panic(fmt.Sprintf("copy spec: %v", err))
	}
	return out
}
