package main

import (
	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// openCache opens the cache named by --cache-dir (or the default).
func openCache(c *cli.Context) (*cache.Cache, error) {
	return cache.New(c.String("cache-dir"))
}

// renderDoc renders the k0s config and the fitted bundle of a loaded spec.
func renderDoc(c *cli.Context, d *spec.Document) (*render.Result, error) {
	ch, err := openCache(c)
	if err != nil {
		return nil, err
	}
	return render.Render(c.Context, d, render.Options{Cache: ch})
}
