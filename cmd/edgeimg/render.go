package main

import (
	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// openCache opens the cache named by --cache-dir (or the default).
func openCache(c *cli.Context) (*cache.Cache, error) {
	return cache.New(c.String("cache-dir"))
}

// renderSpec loads the spec from the command line and renders it; under
// --dry-run it prints the defaulted spec instead and reports done.
func renderSpec(c *cli.Context) (res *render.Result, done bool, err error) {
	d, err := loadSpec(c)
	if err != nil {
		return nil, false, err
	}
	if done, err := printSpecIfDryRun(c, d); done || err != nil {
		return nil, true, err
	}
	res, err = renderDoc(c, d)
	return res, false, err
}

// renderDoc renders the k0s config and the fitted bundle of a loaded spec.
func renderDoc(c *cli.Context, d *spec.Document) (*render.Result, error) {
	ch, err := openCache(c)
	if err != nil {
		return nil, err
	}
	return render.Render(c.Context, d, render.Options{Cache: ch})
}

// boardPlatform is the image platform and architecture of the spec's board
// (spec.images.platform, when set, wins in prepare and the images step).
func boardPlatform(d *spec.Document) (platform, arch string, err error) {
	b, err := image.LookupBoard(d.Spec.Board)
	if err != nil {
		return "", "", err
	}
	return b.Platform, b.Arch, nil
}

// prepareNode starts preparing what the spec's node gets (rendering, the
// k0s binary, pinned images), with the command's image flags.
func prepareNode(c *cli.Context, d *spec.Document, ca *cache.Cache) (*prepare.Node, error) {
	platform, arch, err := boardPlatform(d)
	if err != nil {
		return nil, err
	}
	return prepare.New(d, prepare.Options{
		Cache: ca, Platform: platform, Arch: arch,
		Insecure: commaList(c, "insecure-registry"), Refresh: c.Bool("refresh"), Jobs: c.Int("jobs"),
		Progress: c.App.ErrWriter,
	})
}
