package main

import (
	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/render"
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
	ch, err := openCache(c)
	if err != nil {
		return nil, false, err
	}
	res, err = render.NodeConfig(c.Context, d, render.Options{Cache: ch})
	return res, false, err
}

// prepareOptions are the options of the node's payload (rendering, the
// k0s binary, pinned images) from the command's image flags.
func prepareOptions(c *cli.Context, ca *cache.Cache, t prepare.Target) prepare.Options {
	return prepare.Options{
		Cache: ca, Target: t,
		Insecure: commaList(c, "insecure-registry"), Refresh: c.Bool("refresh"), Jobs: c.Int("jobs"),
		Progress: c.App.ErrWriter,
	}
}
