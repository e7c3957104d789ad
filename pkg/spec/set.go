package spec

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Field is one settable leaf of the spec, for command-line flags.
type Field struct {
	Path string // yaml path below spec, e.g. "node.memory"
	Flag string // flag name, e.g. "node-memory"
	Doc  string // usage text
	List bool   // a list of strings (repeatable flag)
	Map  bool   // a map of strings (KEY=VALUE, repeatable)
	Bool bool   // a boolean switch
}

// Fields lists every scalar, string-list and string-map field of the spec,
// so the CLI can offer one flag per field. Lists of objects (services,
// deploy.hosts) and the free-form k0s.config are set with --set PATH=VALUE
// and a file respectively.
func Fields() []Field {
	var out []Field
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			p := join(path, name)
			ft := f.Type
			switch {
			case ft == reflect.TypeOf(Quantity{}):
				out = append(out, Field{Path: p, Flag: flagName(p), Doc: f.Tag.Get("doc")})
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
				out = append(out, Field{Path: p, Flag: flagName(p), Doc: f.Tag.Get("doc"), List: true})
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.String:
				out = append(out, Field{Path: p, Flag: flagName(p), Doc: f.Tag.Get("doc"), Map: true})
			case ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map || ft.Kind() == reflect.Pointer:
				// services, deploy.hosts, k0s.config: --set or a file
			default:
				out = append(out, Field{Path: p, Flag: flagName(p), Doc: f.Tag.Get("doc"), Bool: ft.Kind() == reflect.Bool})
			}
		}
	}
	walk(reflect.TypeOf(Spec{}), "")
	return out
}

// flagName turns "node.evictionHard" into "node-eviction-hard".
func flagName(path string) string {
	var b strings.Builder
	for i, r := range path {
		switch {
		case r == '.':
			b.WriteByte('-')
		case unicode.IsUpper(r):
			if i > 0 && path[i-1] != '.' {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Set assigns value to the field at path ("node.memory",
// "spec.services[0].image", "images.replace.FROM"), parsing the value as
// YAML of the field's type: a Quantity, a number, a boolean, a string; a
// list field takes a comma-separated list; a map field takes KEY=VALUE. An
// index one past the end of a list appends a new element.
func (d *Document) Set(path, value string) error {
	p := strings.TrimPrefix(path, "spec.")
	v := reflect.ValueOf(&d.Spec).Elem()
	full := "spec"
	parts := splitPath(p)
	for i, part := range parts {
		if v.Kind() == reflect.Map {
			// a map of strings addressed by key; the key may contain dots
			key := strings.Join(parts[i:], ".")
			full = join(full, key)
			if v.Type().Elem().Kind() != reflect.String {
				return &FieldError{Field: full, Msg: "cannot be set with a flag: edit the spec file"}
			}
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			v.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(value))
			return nil
		}
		name, idx, hasIdx, err := parseIndex(part)
		if err != nil {
			return &FieldError{Field: full + "." + part, Msg: err.Error()}
		}
		full = join(full, name)
		if v.Kind() != reflect.Struct {
			return &FieldError{Field: full, Msg: "has no fields"}
		}
		f, ok := yamlFields(v.Type())[name]
		if !ok {
			return &FieldError{Field: full, Msg: fmt.Sprintf("unknown field; expected one of: %s", strings.Join(slices.Sorted(maps.Keys(yamlFields(v.Type()))), ", "))}
		}
		v = v.FieldByIndex(f.Index)
		if hasIdx {
			if v.Kind() != reflect.Slice {
				return &FieldError{Field: full, Msg: "is not a list"}
			}
			switch {
			case idx == v.Len():
				v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			case idx > v.Len():
				return &FieldError{Field: fmt.Sprintf("%s[%d]", full, idx), Msg: fmt.Sprintf("index out of range: the list has %d elements (use %d to append)", v.Len(), v.Len())}
			}
			v = v.Index(idx)
			full = fmt.Sprintf("%s[%d]", full, idx)
		}
	}
	return setValue(v, full, value)
}

func setValue(v reflect.Value, field, value string) error {
	var node yaml.Node
	switch {
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
		return nil
	case v.Kind() == reflect.Map && v.Type().Elem().Kind() == reflect.String:
		k, val, ok := strings.Cut(value, "=")
		if !ok || k == "" {
			return &FieldError{Field: field, Msg: fmt.Sprintf("%q: expected KEY=VALUE", value)}
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(val))
		return nil
	case v.Kind() == reflect.String:
		v.SetString(value)
		return nil
	case v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Int:
		n, err := strconv.Atoi(value)
		if err != nil {
			return &FieldError{Field: field, Msg: fmt.Sprintf("%q is not an integer", value)}
		}
		v.Set(reflect.ValueOf(&n))
		return nil
	}
	node = yaml.Node{Kind: yaml.ScalarNode, Value: value}
	if err := check("", &node, v.Type(), field); err != nil {
		return err
	}
	if err := node.Decode(v.Addr().Interface()); err != nil {
		return &FieldError{Field: field, Msg: err.Error()}
	}
	return nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func parseIndex(part string) (name string, idx int, ok bool, err error) {
	name, rest, found := strings.Cut(part, "[")
	if !found {
		return part, 0, false, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || !strings.HasSuffix(rest, "]") || n < 0 {
		return "", 0, false, fmt.Errorf("bad index: expected name[N]")
	}
	return name, n, true, nil
}

// SetK0sConfigFile merges a k0s ClusterConfig file (a whole document or just
// its spec) into k0s.config.
func (d *Document) SetK0sConfigFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: malformed YAML: %w", path, err)
	}
	if m == nil {
		return fmt.Errorf("%s: empty: expected a k0s ClusterConfig", path)
	}
	if d.Spec.K0s.Config == nil {
		d.Spec.K0s.Config = map[string]any{}
	}
	for k, v := range m {
		d.Spec.K0s.Config[k] = v
	}
	return nil
}
