package imagebuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

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

// FsckRoot runs `e2fsck -fn` on the raw image's root partition (GPT name
// "root", found in the image's partition table as it is now, after a
// first boot grew it) and returns e2fsck's summary; a file system that is
// not clean fails the test.
func FsckRoot(t testing.TB, img string) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatalf("%s: GPT: %v", img, err)
	}
	var offset int64 = -1
	for _, p := range tab.Partitions {
		if p.Name == "root" {
			offset = int64(p.Start) * int64(tab.LogicalSectorSize)
		}
	}
	if offset < 0 {
		t.Fatalf("%s: no partition named root", img)
	}
	// The pinned e2fsprogs of the tools tree, which made the file system.
	var out bytes.Buffer
	if err := Tools(t).Run(context.Background(), &out, nil, "e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", img, offset)); err != nil {
		t.Fatalf("e2fsck -fn on %s's root partition (offset %d): %v\n%s", filepath.Base(img), offset, err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}
