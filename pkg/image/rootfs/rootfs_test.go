package rootfs

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var epoch = time.Unix(1735689600, 0)

func baseTar(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, data string) {
		h.ModTime = time.Unix(1700000000, 0)
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/a", Typeflag: tar.TypeReg, Mode: 0o644}, "old")
	add(&tar.Header{Name: "./etc/ssh/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/ssh/ssh_host_ed25519_key", Typeflag: tar.TypeReg, Mode: 0o600}, "secret")
	add(&tar.Header{Name: "./etc/ssh/sshd_config", Typeflag: tar.TypeReg, Mode: 0o644}, "cfg")
	add(&tar.Header{Name: "./vmlinuz", Typeflag: tar.TypeSymlink, Linkname: "boot/vmlinuz-1"}, "")
	add(&tar.Header{Name: "./boot/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./boot/vmlinuz-1", Typeflag: tar.TypeReg, Mode: 0o644}, "kernel")
	tw.Close()
	p := filepath.Join(t.TempDir(), "base.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type entry struct {
	h    *tar.Header
	data string
}

func readTar(t *testing.T, data []byte) ([]string, map[string]entry) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var order []string
	m := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return order, m
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		order = append(order, h.Name)
		m[h.Name] = entry{h, string(b)}
	}
}

func TestCompose(t *testing.T) {
	base := baseTar(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "blob"), []byte("data"), 0o600)
	os.Link(filepath.Join(host, "blob"), filepath.Join(host, "blob2"))
	os.Symlink("blob", filepath.Join(host, "link"))
	compose := func() []byte {
		tree := NewTree()
		tree.Remove("/etc/ssh/ssh_host_*")
		tree.AddFile("/etc/a", 0o600, []byte("new"))
		tree.AddFile("/opt/deep/dir/file", 0o755, []byte("x"))
		tree.AddSymlink("/etc/link", "/etc/a")
		if err := tree.AddHostTree("/var/lib/store", host); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		st, err := Compose(&b, base, tree, epoch)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bytes == 0 || st.Entries == 0 {
			t.Errorf("stats %+v", st)
		}
		return b.Bytes()
	}
	out := compose()
	if !bytes.Equal(out, compose()) {
		t.Fatal("two composes differ")
	}
	order, m := readTar(t, out)
	if _, ok := m["./etc/ssh/ssh_host_ed25519_key"]; ok {
		t.Error("removed entry kept")
	}
	if e := m["./etc/ssh/sshd_config"]; e.data != "cfg" {
		t.Error("unrelated base entry lost")
	}
	if e := m["./etc/a"]; e.data != "new" || e.h.Mode != 0o600 || !e.h.ModTime.Equal(epoch) {
		t.Errorf("override: %+v %q", e.h, e.data)
	}
	if idx(order, "./etc/a") > idx(order, "./etc/ssh/") {
		t.Error("an overridden base entry moved instead of being replaced in place")
	}
	for _, d := range []string{"./opt/", "./opt/deep/", "./opt/deep/dir/", "./var/", "./var/lib/", "./var/lib/store/"} {
		e, ok := m[d]
		if !ok || e.h.Typeflag != tar.TypeDir {
			t.Errorf("parent %s not created", d)
		}
		if idx(order, d) > idx(order, "./opt/deep/dir/file") && strings.HasPrefix(d, "./opt") {
			t.Errorf("parent %s after its child", d)
		}
	}
	if e := m["./var/lib/store/blob2"]; e.h.Typeflag != tar.TypeLink || e.h.Linkname != "./var/lib/store/blob" {
		t.Errorf("hard link: %+v", e.h)
	}
	if e := m["./var/lib/store/link"]; e.h.Typeflag != tar.TypeSymlink || e.h.Linkname != "blob" {
		t.Errorf("symlink: %+v", e.h)
	}
	if e := m["./var/lib/store/blob"]; e.h.Mode != 0o600 || e.data != "data" {
		t.Errorf("host file: %+v %q", e.h, e.data)
	}
}

func idx(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

func TestReadIndexResolve(t *testing.T) {
	ix, err := ReadIndex(baseTar(t), func(p string) bool { return strings.HasPrefix(p, "/boot/") })
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ix.Resolve("/vmlinuz")
	if !ok || p != "/boot/vmlinuz-1" || string(ix.Files[p]) != "kernel" {
		t.Errorf("Resolve(/vmlinuz) = %s %v", p, ok)
	}
	if _, ok := ix.Files["/etc/a"]; ok {
		t.Error("captured a file the capture function did not select")
	}
	if g := ix.Glob("/boot/vmlinuz-*"); len(g) != 1 {
		t.Errorf("Glob = %v", g)
	}
}

func TestAddHostTreeRefusesDevices(t *testing.T) {
	dir := t.TempDir()
	if err := syscallMkfifo(filepath.Join(dir, "fifo")); err != nil {
		t.Skip("mkfifo:", err)
	}
	if err := NewTree().AddHostTree("/x", dir); err == nil || !strings.Contains(err.Error(), "not supported in a payload tree") {
		t.Errorf("fifo: %v", err)
	}
}
