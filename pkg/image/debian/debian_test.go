package debian

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckForeignArch(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"not mounted", func(string) {}, "binfmt_misc is not mounted"},
		{"not registered", func(dir string) { touch(dir, "register", "") }, "qemu-aarch64 is not registered in binfmt_misc"},
		{"disabled", func(dir string) {
			touch(dir, "register", "")
			touch(dir, "qemu-aarch64", "disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\n")
		}, "disabled"},
		{"no F flag", func(dir string) {
			touch(dir, "register", "")
			touch(dir, "qemu-aarch64", "enabled\ninterpreter /bin/sh\nflags: OC\n")
		}, "without the F flag"},
		{"registered", func(dir string) {
			touch(dir, "register", "")
			touch(dir, "qemu-aarch64", "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(dir)
			err := checkForeignArch("arm64", "amd64", dir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "apt-get install qemu-user-static") && tt.name != "disabled" {
				t.Errorf("error does not say what to install: %v", err)
			}
		})
	}
	if err := checkForeignArch("amd64", "amd64", t.TempDir()); err != nil {
		t.Errorf("native arch: %v", err)
	}
}

func touch(dir, name, content string) {
	os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
}

func TestCheckMirror(t *testing.T) {
	dir := t.TempDir()
	if err := CheckMirror(context.Background(), "file://"+dir, "trixie"); err == nil || !strings.Contains(err.Error(), "no dists/trixie/InRelease") {
		t.Errorf("empty local mirror: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "dists/trixie"), 0o755)
	touch(filepath.Join(dir, "dists/trixie"), "Release", "x")
	if err := CheckMirror(context.Background(), "file://"+dir, "trixie"); err != nil {
		t.Errorf("local mirror: %v", err)
	}
}

func TestSpecKey(t *testing.T) {
	a := Spec{Suite: "trixie", Arch: "amd64", Mirror: "m", Packages: []string{"b", "a", "a"}, SourceDateEpoch: 1}
	b := Spec{Suite: "trixie", Arch: "amd64", Mirror: "m", Packages: []string{"a", "b"}, SourceDateEpoch: 1}
	a.Normalize()
	b.Normalize()
	if a.Key() != b.Key() {
		t.Error("the key depends on package order or duplicates")
	}
	for _, c := range []Spec{{Suite: "bookworm"}, {Arch: "arm64"}, {Mirror: "x"}, {Packages: []string{"a"}}, {SourceDateEpoch: 2}} {
		x := b
		if c.Suite != "" {
			x.Suite = c.Suite
		}
		if c.Arch != "" {
			x.Arch = c.Arch
		}
		if c.Mirror != "" {
			x.Mirror = c.Mirror
		}
		if c.Packages != nil {
			x.Packages = c.Packages
		}
		if c.SourceDateEpoch != 0 {
			x.SourceDateEpoch = c.SourceDateEpoch
		}
		if x.Key() == b.Key() {
			t.Errorf("key does not change with %+v", c)
		}
	}
}
