package bundle

import (
	"bytes"
	"testing"
)

// FuzzParseObjects feeds arbitrary multi-document files to ParseObjects.
// A file either fails with an error or gives objects that each have an
// apiVersion, a kind and a name, and whose print (MarshalObjects) parses
// back to the same print.
func FuzzParseObjects(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: a}\ndata: {k: \"\\n x\"}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"YQ=="}}`))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {generateName: d-, namespace: n, labels: {app: x}}\nspec: {replicas: 3, template: {spec: {containers: [{name: c, image: 'example.com/c:1', resources: {limits: {cpu: 1.5}}}]}}}\n"))
	f.Add([]byte("kind: Namespace\nmetadata: {name: a}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ParseObjects("fuzz.yaml", data)
		if err != nil {
			return
		}
		for i, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" && o.GetGenerateName() == "" {
				t.Fatalf("object %d accepted without apiVersion, kind or name: %v", i, o.Object)
			}
		}
		printed, err := MarshalObjects(objs)
		if err != nil {
			t.Fatalf("parsed objects do not print: %v", err)
		}
		back, err := ParseObjects("printed.yaml", printed)
		if err != nil {
			t.Fatalf("printed objects do not parse: %v\n%s", err, printed)
		}
		if len(back) != len(objs) {
			t.Fatalf("%d objects printed, %d parsed back:\n%s", len(objs), len(back), printed)
		}
		again, err := MarshalObjects(back)
		if err != nil {
			t.Fatalf("parsed print does not print: %v", err)
		}
		if !bytes.Equal(printed, again) {
			t.Fatalf("print -> parse -> print is not stable:\n%s\n---\n%s", printed, again)
		}
	})
}
