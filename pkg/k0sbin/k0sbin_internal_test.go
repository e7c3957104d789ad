package k0sbin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func TestCatalogBinary(t *testing.T) {
	body := []byte("#!/bin/sh\necho k0s\n")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("0", 64)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/k0s-v9.9.9+k0s.0-amd64" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	cat := catalog{
		"v9.9.9+k0s.0": {kubernetes: "9.9.9", bins: map[string]binary{
			"amd64": {url: srv.URL + "/k0s-v9.9.9+k0s.0-amd64", sha256: good},
			"arm64": {url: srv.URL + "/k0s-v9.9.9+k0s.0-amd64", sha256: bad}, // wrong bytes for this pin
		}},
	}
	ctx := context.Background()

	t.Run("match", func(t *testing.T) {
		c, _ := cache.New(t.TempDir())
		p, err := cat.binary(ctx, c, "v9.9.9+k0s.0", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(p); string(data) != string(body) {
			t.Errorf("cached %q", data)
		}
		before := hits.Load()
		if p2, err := cat.binary(ctx, c, "v9.9.9+k0s.0", "amd64"); err != nil || p2 != p {
			t.Errorf("second fetch = %s, %v", p2, err)
		}
		if hits.Load() != before {
			t.Error("second fetch went to the network")
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		c, _ := cache.New(t.TempDir())
		_, err := cat.binary(ctx, c, "v9.9.9+k0s.0", "arm64")
		if !errors.Is(err, cache.ErrChecksum) || !strings.Contains(err.Error(), "v9.9.9+k0s.0 arm64") {
			t.Fatalf("err = %v, want a checksum mismatch naming the release", err)
		}
		if c.Has(bad) || c.Has(good) {
			t.Error("mismatching download left in the cache")
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		c, _ := cache.New(t.TempDir())
		_, err := cat.binary(ctx, c, "v1.0.0+k0s.0", "amd64")
		if err == nil || !strings.Contains(err.Error(), "known: v9.9.9+k0s.0") || !strings.Contains(err.Error(), "spec.k0s.binary") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown arch", func(t *testing.T) {
		c, _ := cache.New(t.TempDir())
		_, err := cat.binary(ctx, c, "v9.9.9+k0s.0", "riscv64")
		if err == nil || !strings.Contains(err.Error(), "known: amd64, arm64") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("spec binary wins", func(t *testing.T) {
		c, _ := cache.New(t.TempDir())
		local := filepath.Join(t.TempDir(), "k0s")
		os.WriteFile(local, body, 0o755)
		before := hits.Load()
		p, err := cat.resolve(ctx, c, &spec.K0s{Version: "v1.0.0+k0s.0", Binary: local}, "amd64")
		if err != nil || p != local {
			t.Fatalf("resolve = %s, %v", p, err)
		}
		if hits.Load() != before {
			t.Error("spec.k0s.binary set, yet it downloaded")
		}
		_, err = cat.resolve(ctx, c, &spec.K0s{Binary: local + ".missing"}, "amd64")
		if err == nil || !strings.Contains(err.Error(), "spec.k0s.binary") {
			t.Errorf("missing binary: err = %v", err)
		}
		_, err = cat.resolve(ctx, c, &spec.K0s{Binary: t.TempDir()}, "amd64")
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("directory as binary: err = %v", err)
		}
		p, err = cat.resolve(ctx, c, &spec.K0s{Version: "v9.9.9+k0s.0"}, "amd64")
		if err != nil || !strings.HasSuffix(p, good) {
			t.Errorf("resolve from catalog = %s, %v", p, err)
		}
	})
}
