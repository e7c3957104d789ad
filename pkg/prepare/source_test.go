package prepare

import (
	"context"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// TestImageSourceImagesHow: an image's images are containerd's preloaded
// store by default, or k0s's import bundle in <data-dir>/images with
// BundleImages — never both.
func TestImageSourceImagesHow(t *testing.T) {
	reg := regtest.Start(t)
	d := edgeSpec(t, reg)
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		bundle bool
	}{{"preloaded", false}, {"bundle", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewImageSource(d, 1735689600, Options{Cache: c, Target: amd64, BundleImages: tc.bundle})
			if err != nil {
				t.Fatal(err)
			}
			for _, ph := range s.Phases() {
				if err := ph.Run(context.Background()); err != nil {
					t.Fatalf("%s: %v", ph.Title(), err)
				}
			}
			p, _, images := s.Result()
			if len(images) == 0 {
				t.Fatal("no images")
			}
			_, store := p.Dirs[k0spath.Containerd(k0spath.DataDir)]
			var bundleFile bool
			for _, f := range p.Files {
				bundleFile = bundleFile || f.Path == k0spath.Images(k0spath.DataDir)+"/edgeimg-bundle.tar"
			}
			if store == tc.bundle || bundleFile != tc.bundle {
				t.Errorf("preloaded store %v, bundle file %v: want the bundle %v and the store %v", store, bundleFile, tc.bundle, !tc.bundle)
			}
		})
	}
}
