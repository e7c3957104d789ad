// Image test helpers (pkg/image and cmd/edgeimg): the shared cache, the
// tools tree, and the skip-or-fail rule for missing prerequisites (t.Skip when EDGEIMG_CI
// is unset, t.Fatal when it is set).

package testenv

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

// imageCache opens the cache shared by the CLI and the tests
// ($EDGEIMG_CACHE, else ~/.cache/edgeimg), so a Debian base is built once.
func imageCache(t testing.TB) *cache.Cache {
	t.Helper()
	c, err := cache.New("")
	if err != nil {
		t.Fatalf("cache: %v", err)
	}
	return c
}

// ImageCache returns the shared cache.
func ImageCache(t testing.TB) *cache.Cache { return imageCache(t) }

// needImage skips the test (or fails it under EDGEIMG_CI) when ok is false.
func needImage(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("EDGEIMG_CI") != "" {
		t.Fatalf("prerequisite missing (EDGEIMG_CI is set, so this fails instead of skipping): %s", reason)
	}
	t.Skipf("prerequisite missing: %s (set EDGEIMG_CI=1 to make this a failure)", reason)
}

// NeedImage is the skip-or-fail rule for image tests.
func NeedImage(t testing.TB, ok bool, reason string) { t.Helper(); needImage(t, ok, reason) }

// NeedHostCommand requires a host command.
func NeedHostCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	needImage(t, err == nil, name+" not found (apt-get install "+pkg+")")
	return p
}

// ImageTools returns the tools tree, built with mmdebstrap into the shared
// cache on first use (about 15 s) and found there afterwards.
func ImageTools(t testing.TB) *tools.Tree {
	t.Helper()
	NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	c := imageCache(t)
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
