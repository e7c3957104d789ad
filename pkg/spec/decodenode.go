package spec

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSize is the largest spec file accepted, in bytes. A spec is a page of
// settings; a bigger file is a mistake, and refusing it early bounds the
// time and memory decoding takes.
const MaxSize = 1 << 20

// maxNodes bounds the YAML nodes one decode visits, aliases expanded: a
// small file whose aliases refer to aliases ("billion laughs") would
// otherwise expand without end.
const maxNodes = 1 << 20

// nodeDecoder decodes a yaml.Node tree into Go values in one walk, linear
// in the number of nodes: yaml.v3's own Node.Decode compares every key of a
// mapping with every other (quadratic: 40k keys took seconds). It is also
// strict: unknown fields, duplicate keys, merge keys and values of the
// wrong shape are errors naming the field's path.
type nodeDecoder struct {
	file   string
	nodes  int                                             // nodes visited, aliases expanded
	active map[*yaml.Node]bool                             // anchors being expanded (cycle guard)
	fields map[reflect.Type]map[string]reflect.StructField // yamlFields per struct type
}

func newNodeDecoder(file string) *nodeDecoder {
	return &nodeDecoder{file: file, active: map[*yaml.Node]bool{}, fields: map[reflect.Type]map[string]reflect.StructField{}}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// check reports whether n decodes as a value of type t, without keeping
// the value (used for --set values).
func check(file string, n *yaml.Node, t reflect.Type, path string) error {
	return newNodeDecoder(file).decode(n, reflect.New(t).Elem(), path)
}

func (d *nodeDecoder) fail(line int, path, format string, args ...any) error {
	if path == "" {
		path = "(document)"
	}
	return &FieldError{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// visit counts n and, when it is an alias, returns its anchor's value,
// refusing cycles and documents that expand beyond maxNodes. The caller
// must call leave(alias) once the value has been decoded.
func (d *nodeDecoder) visit(n *yaml.Node, path string) (value, alias *yaml.Node, err error) {
	d.nodes++
	if d.nodes > maxNodes {
		return nil, nil, d.fail(n.Line, path, "more than %d YAML values (aliases expanded): expected a spec without runaway aliases", maxNodes)
	}
	if n.Kind != yaml.AliasNode {
		return n, nil, nil
	}
	switch {
	case n.Alias == nil:
		return nil, nil, d.fail(n.Line, path, "alias *%s refers to no anchor", n.Value)
	case n.Alias.Kind == yaml.AliasNode:
		return nil, nil, d.fail(n.Line, path, "alias *%s refers to an alias", n.Value)
	case d.active[n.Alias]:
		return nil, nil, d.fail(n.Line, path, "alias *%s refers to a value that contains it: expected an alias to a finished value", n.Value)
	}
	d.active[n.Alias] = true
	return n.Alias, n, nil
}

// leave ends the expansion of alias (nil for a node that is not one).
func (d *nodeDecoder) leave(alias *yaml.Node) {
	if alias != nil {
		delete(d.active, alias.Alias)
	}
}

// decode decodes n into v (addressable), at the dotted path. As with
// yaml.v3, a null leaves structs and scalars as they are (a spec laid over
// the default keeps the default's value) and clears pointers, lists and
// maps; a mapping sets the fields and keys it names; a list replaces the
// list whole.
func (d *nodeDecoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	n, alias, err := d.visit(n, path)
	if err != nil {
		return err
	}
	defer d.leave(alias)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
			v.SetZero()
		}
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			return d.fail(n.Line, path, "%s", err.Error())
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.structFields(n, v, path)
	case reflect.Map:
		return d.mapKeys(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.fail(n.Line, path, "expected a list, got a %s", kindName(n))
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.decode(c, out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	case reflect.Interface:
		x, err := d.value(n, path)
		if err != nil {
			return err
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
		return nil
	default:
		return d.scalar(n, v, path)
	}
}

// structFields sets the fields a mapping names.
func (d *nodeDecoder) structFields(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.fail(n.Line, path, "expected a mapping, got a %s", kindName(n))
	}
	fields, ok := d.fields[v.Type()]
	if !ok {
		fields = yamlFields(v.Type())
		d.fields[v.Type()] = fields
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, line, err := d.key(n.Content[i], path, seen)
		if err != nil {
			return err
		}
		f, ok := fields[name]
		if !ok {
			return d.fail(line, join(path, name), "unknown field; expected one of: %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		if err := d.decode(n.Content[i+1], v.FieldByIndex(f.Index), join(path, name)); err != nil {
			return err
		}
	}
	return nil
}

// mapKeys adds the keys of a mapping to the map v (made when nil); each
// value is decoded into a new element.
func (d *nodeDecoder) mapKeys(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.fail(n.Line, path, "expected a mapping, got a %s", kindName(n))
	}
	if v.Type().Key().Kind() != reflect.String {
		return d.fail(n.Line, path, "cannot decode a map keyed by %s", v.Type().Key())
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(n.Content)/2))
	}
	seen := make(map[string]int, len(n.Content)/2)
	et := v.Type().Elem()
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, _, err := d.key(n.Content[i], path, seen)
		if err != nil {
			return err
		}
		e := reflect.New(et).Elem()
		if err := d.decode(n.Content[i+1], e, join(path, name)); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), e)
	}
	return nil
}

// key returns a mapping key's text, refusing keys that are not plain
// values, merge keys and keys already seen in the same mapping.
func (d *nodeDecoder) key(k *yaml.Node, path string, seen map[string]int) (string, int, error) {
	k, alias, err := d.visit(k, path)
	if err != nil {
		return "", 0, err
	}
	defer d.leave(alias)
	switch {
	case k.Kind != yaml.ScalarNode:
		return "", 0, d.fail(k.Line, path, "a %s as a key: expected a name", kindName(k))
	case k.ShortTag() == "!!null":
		return "", 0, d.fail(k.Line, path, "an empty (null) key: expected a name")
	case k.ShortTag() == "!!merge":
		return "", 0, d.fail(k.Line, path, "merge keys (<<) are not supported: write the fields out")
	}
	name := k.Value
	if k.ShortTag() == "!!binary" { // how a key that is not UTF-8 is printed
		if err := k.Decode(&name); err != nil {
			return "", 0, d.fail(k.Line, path, "key %q: %v", k.Value, err)
		}
	}
	if first, dup := seen[name]; dup {
		return "", 0, d.fail(k.Line, join(path, name), "set twice (first on line %d): expected each key once", first)
	}
	seen[name] = k.Line
	return name, k.Line, nil
}

// scalar decodes a string, number or boolean.
func (d *nodeDecoder) scalar(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.fail(n.Line, path, "expected %s, got a %s", scalarName(v.Type()), kindName(n))
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		if tag == "!!str" {
			v.SetString(n.Value) // the common case, without yaml's per-call setup
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if tag != "!!int" { // yaml.v3 would truncate 1.5 to 1
			return d.fail(n.Line, path, "%q is not %s", n.Value, scalarName(v.Type()))
		}
	case reflect.Bool, reflect.Float32, reflect.Float64:
	default:
		return d.fail(n.Line, path, "cannot decode into %s", v.Type())
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		return d.fail(n.Line, path, "%q is not %s", n.Value, scalarName(v.Type()))
	}
	v.Set(p.Elem())
	return nil
}

// value decodes free-form YAML (k0s.config): mappings become
// map[string]any, lists []any, scalars what yaml.v3 makes of them.
func (d *nodeDecoder) value(n *yaml.Node, path string) (any, error) {
	n, alias, err := d.visit(n, path)
	if err != nil {
		return nil, err
	}
	defer d.leave(alias)
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, _, err := d.key(n.Content[i], path, seen)
			if err != nil {
				return nil, err
			}
			if out[name], err = d.value(n.Content[i+1], join(path, name)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			if out[i], err = d.value(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return n.Value, nil
		}
		var x any
		if err := n.Decode(&x); err != nil {
			return nil, d.fail(n.Line, path, "%q: %v", n.Value, err)
		}
		return x, nil
	}
	return nil, d.fail(n.Line, path, "unexpected YAML node kind %d", n.Kind)
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
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a string"
}

// yamlName is the key a struct field has in YAML, as yaml.v3 names it:
// the tag's name, else the lower-cased field name; ok is false for a field
// YAML never sees (unexported, or tagged "-").
func yamlName(f reflect.StructField) (name string, ok bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ = strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

// yamlFields maps yaml keys to struct fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, ok := yamlName(f); ok {
			out[name] = f
		}
	}
	return out
}
