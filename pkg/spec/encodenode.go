package spec

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// encodeNode builds the yaml.Node tree of v (a spec type) directly, the
// inverse of nodeDecoder. yaml.v3's own Node.Encode prints v and parses
// the text back, which loses a string's leading newline (its printer
// writes "\n x" as a literal block that reads back as " x"; found by
// FuzzSet); here such strings are double-quoted instead.
func encodeNode(v reflect.Value) (*yaml.Node, error) {
	if !v.IsValid() {
		return nullNode(), nil
	}
	if v.Type().Implements(marshalerType) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nullNode(), nil
		}
		x, err := v.Interface().(yaml.Marshaler).MarshalYAML()
		if err != nil {
			return nil, err
		}
		return encodeNode(reflect.ValueOf(x))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nullNode(), nil
		}
		return encodeNode(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			break // printed by yaml.v3 below
		}
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, ok := yamlName(f)
			if !ok {
				continue
			}
			c, err := encodeNode(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			n.Content = append(n.Content, stringNode(name), c)
		}
		return n, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("cannot encode a map keyed by %s", v.Type().Key())
		}
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			keys = append(keys, it.Key().String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			c, err := encodeNode(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, stringNode(k), c)
		}
		return n, nil
	case reflect.Slice, reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			c, err := encodeNode(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.String:
		return stringNode(v.String()), nil
	}
	// numbers, booleans and anything else yaml.v3 knows (time.Time in
	// k0s.config): its printed form is exact for these
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	return &n, nil
}

var timeType = reflect.TypeOf(time.Time{})

var marshalerType = reflect.TypeOf((*yaml.Marshaler)(nil)).Elem()

func nullNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// stringNode is a string scalar. The printer quotes strings that would
// read back as another type ("true", "1"); strings that YAML 1.1 readers
// take for booleans or sexagesimal numbers are quoted too (as yaml.v3's
// Marshal does), and so are strings starting with a newline.
func stringNode(s string) *yaml.Node {
	if !utf8.ValidString(s) {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: s} // printed as !!binary
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.HasPrefix(s, "\n") || yaml11Bool(s) || sexagesimal.MatchString(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// yaml11Bool reports whether YAML 1.1 reads s, unquoted, as a boolean.
func yaml11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		return true
	}
	return false
}

var sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)
