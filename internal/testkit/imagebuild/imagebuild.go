package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// Mirror is the mirror image tests build from: $EDGEIMG_TEST_MIRROR,
// else Debian's CDN.
func Mirror() string {
	if m := os.Getenv("EDGEIMG_TEST_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// Cache opens the cache shared by the CLI and the tests (testkit.CacheDir),
// so a Debian base is built once.
func Cache(t testing.TB) *cache.Cache {
	t.Helper()
	c, err := cache.New(testkit.CacheDir())
	if err != nil {
		t.Fatalf("cache: %v", err)
	}
	return c
}

// Tools returns the tools tree, built with mmdebstrap into the shared
// cache on first use (about 15 s) and found there afterwards.
func Tools(t testing.TB) *tools.Tree {
	t.Helper()
	testkit.NeedHostCommand(t, "mmdebstrap", "mmdebstrap")
	c := Cache(t)
	logf, err := os.CreateTemp("", "edgeimg-tools-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	tree, _, err := tools.Ensure(context.Background(), c, tools.Spec{Mirror: Mirror()}, logf)
	if err != nil {
		t.Fatalf("tools tree (log %s): %v", filepath.Base(logf.Name()), err)
	}
	return tree
}

// ResizeRaw grows a raw image file (a copy of the built image) to size
// with the tools tree's qemu-img, as a user flashing a bigger medium.
func ResizeRaw(t testing.TB, img string, size int64) {
	t.Helper()
	tr := Tools(t)
	if err := tr.Run(context.Background(), nil, nil, "qemu-img", "resize", "-q", "-f", "raw", img, strconv.FormatInt(size, 10)); err != nil {
		t.Fatalf("qemu-img resize: %v", err)
	}
}
