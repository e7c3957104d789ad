package payload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "usr/local/bin/k0s"), []byte("bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "k0s.yaml"), []byte("cfg"), 0o600)
	p, err := FromTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Files {
		got = append(got, f.Path+" "+f.Mode.String())
		if f.SHA256 == "" {
			t.Errorf("%s not sealed", f.Path)
		}
	}
	if strings.Join(got, ",") != "/k0s.yaml -rw-------,/usr/local/bin/k0s -rwxr-xr-x" {
		t.Errorf("files %v", got)
	}

	os.Symlink("k0s.yaml", filepath.Join(dir, "link"))
	if _, err := FromTree(dir); err == nil || !strings.Contains(err.Error(), "only regular files") {
		t.Errorf("symlink: %v", err)
	}
	if _, err := FromTree(t.TempDir()); err == nil || err.Error() != "no files" {
		t.Errorf("empty tree: %v", err)
	}
}
