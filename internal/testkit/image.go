// Image test helpers (pkg/image and cmd/edgeimg): the shared cache, the
// tools tree, and the skip-or-fail rule for missing prerequisites (t.Skip when EDGEIMG_CI
// is unset, t.Fatal when it is set).

package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// DebianMirror is the mirror image tests build from: $EDGEIMG_TEST_MIRROR,
// else Debian's CDN.
func DebianMirror() string {
	if m := os.Getenv("EDGEIMG_TEST_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// ImageCache opens the cache shared by the CLI and the tests (CacheDir),
// so a Debian base is built once.
func ImageCache(t testing.TB) *cache.Cache {
	t.Helper()
	c, err := cache.New(CacheDir())
	if err != nil {
		t.Fatalf("cache: %v", err)
	}
	return c
}

// NeedHostCommand requires a host command.
func NeedHostCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not found (apt-get install "+pkg+")")
	return p
}

// ImageTools returns the tools tree, built with mmdebstrap into the shared
// cache on first use (about 15 s) and found there afterwards.
func ImageTools(t testing.TB) *tools.Tree {
	t.Helper()
	NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	c := ImageCache(t)
	logf, err := os.CreateTemp("", "edgeimg-tools-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	tree, _, err := tools.Ensure(context.Background(), c, tools.Spec{Mirror: DebianMirror()}, logf)
	if err != nil {
		t.Fatalf("tools tree (log %s): %v", filepath.Base(logf.Name()), err)
	}
	return tree
}
