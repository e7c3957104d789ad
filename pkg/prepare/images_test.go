package prepare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n"
	write("stacks/top.yaml", strings.Replace(ns, "%s", "top", 1))
	write("stacks/app/a.yml", strings.Replace(ns, "%s", "a", 1)+"---\n# only a comment\n---\n"+strings.Replace(ns, "%s", "b", 1))
	write("stacks/app/notes.txt", "not yaml")
	single := write("single/one.yaml", strings.Replace(ns, "%s", "one", 1))
	bad := write("bad/noname.yaml", "apiVersion: v1\nkind: Namespace\n")

	objs, err := readManifests([]string{filepath.Join(dir, "stacks"), single})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Stack+"/"+o.File+":"+o.Obj.GetName())
	}
	want := "app/a.yml:a app/a.yml:b stacks/top.yaml:top single/one.yaml:one"
	if strings.Join(got, " ") != want {
		t.Errorf("objects %q, want %q", strings.Join(got, " "), want)
	}
	for _, tt := range []struct{ path, want string }{
		{bad, "metadata.name: empty"},
		{filepath.Join(dir, "stacks/app/notes.txt"), "notes.txt"},
		{filepath.Join(dir, "missing"), "no such file"},
		{t.TempDir(), "no *.yaml files"},
	} {
		if _, err := readManifests([]string{tt.path}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
		}
	}
}
