package k0sconfig

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

type jsonMap = map[string]any

// userField is the spec field holding the user's k0s config.
const userField = "spec.k0s.config"

// documentKeys are the top-level keys of a whole ClusterConfig document.
var documentKeys = []string{"apiVersion", "kind", "metadata", "spec", "status"}

// userDocument normalizes spec.k0s.config into a whole ClusterConfig
// document (it may be one, or only its spec) and rejects any field k0s's
// ClusterConfig does not have, naming it. k0s's own decoder is strict only
// at the top level of spec (nested sections with custom JSON decoding
// silently drop unknown fields), hence this walk over the Go types.
func userDocument(cfg map[string]any) (jsonMap, error) {
	if len(cfg) == 0 {
		return nil, nil
	}
	m, err := normalize(cfg, userField)
	if err != nil {
		return nil, err
	}
	user := m.(jsonMap)
	whole := false
	for _, k := range documentKeys {
		if _, ok := user[k]; ok {
			whole = true
		}
	}
	if !whole {
		user = jsonMap{"spec": user}
		if err := checkFields(user["spec"], reflect.TypeOf(v1beta1.ClusterSpec{}), userField); err != nil {
			return nil, err
		}
	} else {
		if v, ok := user["apiVersion"]; ok && v != v1beta1.ClusterConfigAPIVersion {
			return nil, &spec.FieldError{Field: userField + ".apiVersion", Msg: fmt.Sprintf("%v: expected %s", v, v1beta1.ClusterConfigAPIVersion)}
		}
		if v, ok := user["kind"]; ok && v != v1beta1.ClusterConfigKind {
			return nil, &spec.FieldError{Field: userField + ".kind", Msg: fmt.Sprintf("%v: expected %s", v, v1beta1.ClusterConfigKind)}
		}
		if err := checkFields(user, reflect.TypeOf(v1beta1.ClusterConfig{}), userField); err != nil {
			return nil, err
		}
	}
	return user, nil
}

// normalize turns what a YAML decoder produced into JSON-shaped values
// (string-keyed maps, []any).
func normalize(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(jsonMap, len(t))
		for k, e := range t {
			n, err := normalize(e, join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(jsonMap, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, &spec.FieldError{Field: join(path, fmt.Sprint(k)), Msg: "expected a string key"}
			}
			n, err := normalize(e, join(path, ks))
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalize(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ignoredFields are accepted anywhere and dropped, as k0s's own decoder
// does (strictyaml.YamlUnmarshalStrictIgnoringFields in ConfigFromBytes).
var ignoredFields = []string{"interval", "podSecurityPolicy"}

// apiNote ends the refusal of an unknown field: the config API edgeimg
// builds k0s.yaml with is k0s's 1.33 line (see the package doc).
const apiNote = " (edgeimg builds k0s.yaml with k0s's 1.33 config API: a field added to ClusterConfig by a later k0s cannot be set here)"

// checkFields walks a JSON-shaped value along the Go type that will decode
// it and reports the first key the type has no field for.
func checkFields(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := jsonFields(t)
		if fields == nil {
			return nil // an opaque value with its own decoding (durations, times, raw objects)
		}
		m, ok := v.(jsonMap)
		if !ok {
			return &spec.FieldError{Field: path, Msg: fmt.Sprintf("got %s: expected a mapping", shape(v))}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				if slices.Contains(ignoredFields, k) {
					continue
				}
				return &spec.FieldError{Field: join(path, k), Msg: "unknown k0s ClusterConfig field: expected one of " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + apiNote}
			}
			if err := checkFields(m[k], ft, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := v.(jsonMap)
		if !ok {
			return &spec.FieldError{Field: path, Msg: fmt.Sprintf("got %s: expected a mapping", shape(v))}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := checkFields(m[k], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // raw bytes
		}
		l, ok := v.([]any)
		if !ok {
			return &spec.FieldError{Field: path, Msg: fmt.Sprintf("got %s: expected a list", shape(v))}
		}
		for i, e := range l {
			if err := checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields to their types, following
// inlined embedded structs. It returns nil for a struct that decodes itself
// without JSON-named fields (metav1.Duration, metav1.Time, RawExtension).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	tagged := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if hasTag {
			tagged = true
		}
		if f.Anonymous && (name == "" || strings.Contains(","+opts+",", ",inline,")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					fields[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	if !tagged {
		return nil
	}
	return fields
}

func shape(v any) string {
	switch v.(type) {
	case jsonMap:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T %v", v, v)
}

// mergeMaps lays src over dst (both JSON-shaped, dst not modified): maps
// merge key by key, lists and scalars from src replace dst's, except
// spec.workerProfiles, merged by profile name like the list-map k0s
// declares it to be (a user profile "default" adds to the kubelet
// reservations instead of dropping them).
func mergeMaps(dst, src jsonMap, path string) jsonMap {
	out := make(jsonMap, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, sv := range src {
		p := join(path, k)
		dv, ok := out[k]
		if !ok {
			out[k] = sv
			continue
		}
		dm, dIsMap := dv.(jsonMap)
		sm, sIsMap := sv.(jsonMap)
		switch {
		case dIsMap && sIsMap:
			out[k] = mergeMaps(dm, sm, p)
		case p == "spec.workerProfiles":
			out[k] = mergeProfiles(dv, sv)
		default:
			out[k] = sv
		}
	}
	return out
}

func mergeProfiles(dst, src any) any {
	dl, ok1 := dst.([]any)
	sl, ok2 := src.([]any)
	if !ok1 || !ok2 {
		return src
	}
	out := slices.Clone(dl)
	for _, sp := range sl {
		sm, ok := sp.(jsonMap)
		if !ok {
			out = append(out, sp)
			continue
		}
		merged := false
		for i, dp := range out {
			dm, ok := dp.(jsonMap)
			if ok && dm["name"] == sm["name"] {
				out[i] = mergeMaps(dm, sm, "")
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, sp)
		}
	}
	return out
}

func hasPath(m jsonMap, keys ...string) bool {
	for i, k := range keys {
		v, ok := m[k]
		if !ok {
			return false
		}
		if i == len(keys)-1 {
			return true
		}
		if m, ok = v.(jsonMap); !ok {
			return false
		}
	}
	return false
}

func deletePath(m jsonMap, keys ...string) {
	for i, k := range keys {
		if i == len(keys)-1 {
			delete(m, k)
			return
		}
		next, ok := m[k].(jsonMap)
		if !ok {
			return
		}
		m = next
	}
}
