package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestSealRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		p    Payload
		want string
	}{
		{"relative path", Payload{Files: []File{{Path: "etc/x", Data: []byte("x")}}}, "expected a clean absolute path"},
		{"unclean path", Payload{Files: []File{{Path: "/etc/../x", Data: []byte("x")}}}, "expected a clean absolute path"},
		{"twice", Payload{Files: []File{{Path: "/x", Data: []byte("a")}, {Path: "/x", Data: []byte("b")}}}, "added twice"},
		{"neither", Payload{Files: []File{{Path: "/x"}}}, "expected exactly one of data or source"},
		{"both", Payload{Files: []File{{Path: "/x", Data: []byte("a"), Source: "/etc/hostname"}}}, "expected exactly one of data or source"},
		{"missing source", Payload{Files: []File{{Path: "/x", Source: filepath.Join(dir, "nope")}}}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Seal()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Seal() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSealSumsAndOrder(t *testing.T) {
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, []byte("binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	var p Payload
	p.Add("/z", 0o644, []byte("zz"))
	p.AddFile("/a", 0o755, src)
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Files[0].Path != "/a" || p.Files[1].Path != "/z" {
		t.Fatalf("order %s, %s: want /a, /z", p.Files[0].Path, p.Files[1].Path)
	}
	if p.Files[0].SHA256 != sum([]byte("binary")) || p.Files[0].Size != 6 {
		t.Errorf("/a: %s %d", p.Files[0].SHA256, p.Files[0].Size)
	}
	if p.Files[1].SHA256 != sum([]byte("zz")) || p.Files[1].Size != 2 {
		t.Errorf("/z: %s %d", p.Files[1].SHA256, p.Files[1].Size)
	}
}

// TestSealHashesSourceOnce: a second Seal carries the sum of an unchanged
// source file and recomputes it when the file changed.
func TestSealHashesSourceOnce(t *testing.T) {
	src := filepath.Join(t.TempDir(), "k0s")
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(content string, mtime time.Time) {
		t.Helper()
		f, err := os.OpenFile(src, os.O_WRONLY|os.O_CREATE, 0o644) // in place: same inode
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(src, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("first", old)
	var p Payload
	p.AddFile("/usr/local/bin/k0s", 0o755, src)
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Files[0].SHA256 != sum([]byte("first")) {
		t.Fatalf("first seal: %s", p.Files[0].SHA256)
	}

	// Same size, time and inode: the file is not read again, so the
	// carried sum is the first one although the bytes differ.
	write("FIRST", old)
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Files[0].SHA256 != sum([]byte("first")) {
		t.Fatalf("second seal read the file again: %s", p.Files[0].SHA256)
	}

	// A new modification time: hashed again.
	write("FIRST", old.Add(time.Second))
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Files[0].SHA256 != sum([]byte("FIRST")) {
		t.Fatalf("changed file kept the old sum: %s", p.Files[0].SHA256)
	}

	// Another source path: hashed again.
	other := filepath.Join(t.TempDir(), "k0s")
	if err := os.WriteFile(other, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Files[0].Source = other
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Files[0].SHA256 != sum([]byte("other")) || p.Files[0].Size != 5 {
		t.Fatalf("new source kept the old sum: %s %d", p.Files[0].SHA256, p.Files[0].Size)
	}
}

// BenchmarkSeal: sealing a payload with a 64 MiB source file the first
// time (reads it) and again (carries the sum), side by side.
func BenchmarkSeal(b *testing.B) {
	src := filepath.Join(b.TempDir(), "k0s")
	if err := os.WriteFile(src, make([]byte, 64<<20), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		b.SetBytes(64 << 20)
		for b.Loop() {
			var p Payload
			p.AddFile("/usr/local/bin/k0s", 0o755, src)
			if err := p.Seal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		var p Payload
		p.AddFile("/usr/local/bin/k0s", 0o755, src)
		if err := p.Seal(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := p.Seal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
