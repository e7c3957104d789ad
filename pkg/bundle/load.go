package bundle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2"
)

// ParseObjects decodes a multi-document YAML file (named name in errors)
// into objects, skipping empty documents. Every object must have an
// apiVersion, a kind and a name or generateName.
func ParseObjects(name string, data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: malformed YAML: %w", name, i, err)
		}
		if string(js) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: document %d: expected a Kubernetes object with apiVersion and kind: %w", name, i, err)
		}
		if u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d (%s): apiVersion: empty: expected a group/version such as v1 or apps/v1", name, i, u.GetKind())
		}
		if u.GetName() == "" && u.GetGenerateName() == "" {
			return nil, fmt.Errorf("%s: document %d (%s): metadata.name: empty: expected a name", name, i, u.GetKind())
		}
		out = append(out, u)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") || t == "---" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// MarshalObjects renders objects as one multi-document YAML file with
// sorted keys, so the bytes depend only on the objects.
func MarshalObjects(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		data, err := marshalSorted(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// marshalSorted prints an object as YAML with every mapping's keys in
// byte order. sigs.k8s.io/yaml's Marshal sorts keys with go-yaml's
// digit-aware comparison, which is not a total order on keys mixing digit
// runs and letters: their order then followed Go's random map iteration
// (found by FuzzParseObjects). Decoding the JSON (keys byte-sorted by
// encoding/json) into a MapSlice keeps that order.
func marshalSorted(obj map[string]any) ([]byte, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var ms goyaml.MapSlice
	if err := goyaml.Unmarshal(js, &ms); err != nil {
		return nil, err
	}
	return goyaml.Marshal(ms)
}

// key identifies an object across files.
type key struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

func keyOf(o *unstructured.Unstructured) key {
	return key{o.GroupVersionKind().GroupKind(), o.GetNamespace(), o.GetName()}
}

func (k key) String() string {
	ns := k.namespace
	if ns != "" {
		ns += "/"
	}
	kind := k.gk.Kind
	if k.gk.Group != "" {
		kind += "." + k.gk.Group
	}
	return kind + " " + ns + k.name
}

// clusterScoped lists the built-in cluster-scoped kinds that can appear in
// release manifests; custom resources are looked up in the bundle's CRDs.
var clusterScoped = map[schema.GroupKind]bool{
	{Group: "", Kind: "Namespace"}:                                                    true,
	{Group: "", Kind: "PersistentVolume"}:                                             true,
	{Group: "", Kind: "Node"}:                                                         true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
}

// scopes knows which kinds are cluster-scoped: the built-ins above plus
// every CRD among the objects.
type scopes map[schema.GroupKind]bool

func scopesOf(objs []*unstructured.Unstructured) scopes {
	s := scopes{}
	for gk, v := range clusterScoped {
		s[gk] = v
	}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		s[schema.GroupKind{Group: group, Kind: kind}] = scope == "Cluster"
	}
	return s
}

func (s scopes) clusterScoped(o *unstructured.Unstructured) bool {
	return s[o.GroupVersionKind().GroupKind()]
}
