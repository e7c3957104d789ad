package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/cache"
)

func TestReadFixturesMatchCatalog(t *testing.T) {
	src := &Source{Dir: fixtures.Upstream(t)}
	for _, r := range Catalog() {
		if _, err := src.Read(context.Background(), r.Project, r.Version, r.Name); err != nil {
			t.Errorf("%s %s %s: %v", r.Project, r.Version, r.Name, err)
		}
	}
}

func TestReadDirErrors(t *testing.T) {
	dir := t.TempDir()
	orig, err := os.ReadFile(filepath.Join(fixtures.Upstream(t), MetalLB, "v0.15.3", MetalLBNative))
	if err != nil {
		t.Fatal(err)
	}
	write := func(project, version, name string, data []byte) {
		p := filepath.Join(dir, project, version, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(MetalLB, "v0.15.3", MetalLBNative, append(orig, []byte("# tampered\n")...))
	write(MetalLB, "v0.99.0", MetalLBNative, []byte("kind: Namespace\n"))
	src := &Source{Dir: dir}
	ctx := context.Background()

	_, err = src.Read(ctx, MetalLB, "v0.15.3", MetalLBNative)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "84b4e102") {
		t.Errorf("tampered catalog file: err = %v, want a checksum mismatch naming the pin", err)
	}
	if data, err := src.Read(ctx, MetalLB, "v0.99.0", MetalLBNative); err != nil || string(data) != "kind: Namespace\n" {
		t.Errorf("version outside the catalog from a dir: %q, %v", data, err)
	}
	_, err = src.Read(ctx, NetKourier, "1.23.0", KourierYAML)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, NetKourier, "1.23.0", KourierYAML)) {
		t.Errorf("missing file: err = %v, want the path named", err)
	}
}

func TestReadDownloadsOnceAndVerifies(t *testing.T) {
	good := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/good.yaml":
			w.Write(good)
		case "/bad.yaml":
			w.Write([]byte("something else"))
		default:
			http.NotFound(w, r)
		}
	}))
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{Cache: c, releases: []Release{
		{"p", "1.0.0", "good.yaml", srv.URL + "/good.yaml", sum(good)},
		{"p", "1.0.0", "bad.yaml", srv.URL + "/bad.yaml", sum([]byte("the pinned bytes"))},
		{"p", "1.0.0", "gone.yaml", srv.URL + "/gone.yaml", sum([]byte("never served"))},
	}}
	ctx := context.Background()
	if data, err := src.Read(ctx, "p", "1.0.0", "good.yaml"); err != nil || string(data) != string(good) {
		t.Fatalf("download: %q, %v", data, err)
	}
	srv.Close() // second read must come from the cache
	if data, err := src.Read(ctx, "p", "1.0.0", "good.yaml"); err != nil || string(data) != string(good) {
		t.Fatalf("offline read: %q, %v", data, err)
	}
	if hits != 1 {
		t.Errorf("server hits = %d, want 1", hits)
	}

	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad.yaml" {
			w.Write([]byte("something else"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv2.Close()
	src.releases[1].URL = srv2.URL + "/bad.yaml"
	src.releases[2].URL = srv2.URL + "/gone.yaml"
	if _, err := src.Read(ctx, "p", "1.0.0", "bad.yaml"); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad download: err = %v, want checksum mismatch", err)
	}
	if _, err := src.Read(ctx, "p", "1.0.0", "gone.yaml"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing download: err = %v, want 404", err)
	}
	entries, _ := os.ReadDir(filepath.Join(c.Root, "blobs", "sha256"))
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries after failed downloads, want only the good blob", len(entries))
	}
}

func TestReadUnknownVersion(t *testing.T) {
	c, _ := cache.New(t.TempDir())
	_, err := (&Source{Cache: c}).Read(context.Background(), KnativeServing, "1.99.0", ServingCore)
	if err == nil || !strings.Contains(err.Error(), "1.23.0") || !strings.Contains(err.Error(), "--upstream") {
		t.Errorf("err = %v, want known versions and the --upstream hint", err)
	}
}
