package payload_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/payload"
)

func TestSealLinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(p *payload.Payload)
		err   string
	}{
		{"ok", func(p *payload.Payload) { p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge") }, ""},
		{"relative path", func(p *payload.Payload) { p.AddLink("opt/cni/bin/bridge", "/usr/lib/cni/bridge") }, "clean absolute path"},
		{"relative target", func(p *payload.Payload) { p.AddLink("/opt/cni/bin/bridge", "../lib/cni/bridge") }, "clean absolute path"},
		{"unclean", func(p *payload.Payload) { p.AddLink("/opt/cni//bin/bridge", "/usr/lib/cni/bridge") }, "clean absolute path"},
		{"a file's path", func(p *payload.Payload) {
			p.Add("/opt/cni/bin/bridge", 0o755, []byte("x"))
			p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge")
		}, "added twice"},
		{"twice", func(p *payload.Payload) {
			p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge")
			p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge")
		}, "added twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &payload.Payload{}
			tc.build(p)
			err := p.Seal()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Seal: %v, want %q", err, tc.err)
			}
		})
	}
}

func TestSealSortsLinksAndPackages(t *testing.T) {
	p := &payload.Payload{Packages: []string{"b", "a", "b"}}
	p.AddLink("/z", "/t1")
	p.AddLink("/a", "/t2")
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if p.Links[0].Path != "/a" || strings.Join(p.Packages, ",") != "a,b" {
		t.Errorf("links %v packages %v: want sorted, packages unique", p.Links, p.Packages)
	}
}

func TestWriteTreeLinks(t *testing.T) {
	root := t.TempDir()
	p := &payload.Payload{}
	p.AddLink("/opt/cni/bin/bridge", "/usr/lib/cni/bridge")
	// Something already there is replaced (the tree is being built).
	if err := os.MkdirAll(filepath.Join(root, "opt/cni/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/elsewhere", filepath.Join(root, "opt/cni/bin/bridge")); err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteTree(root); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(root, "opt/cni/bin/bridge")); err != nil || got != "/usr/lib/cni/bridge" {
		t.Errorf("link -> %q (%v)", got, err)
	}
}
