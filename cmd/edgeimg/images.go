package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/prepare"
)

// registryFlags are the image-pull flags of every command that pulls.
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "registry reached over plain HTTP (repeatable or comma-separated; adds to spec.images.insecureRegistries)", Category: "Images"},
		&cli.BoolFlag{Name: "refresh", Usage: "resolve tags at the registry again, even those an earlier pull recorded; report tags that moved", Category: "Images"},
		&cli.IntFlag{Name: "jobs", Value: 4, Usage: "parallel downloads", Category: "Images"},
	}
}

func imagesCommand() *cli.Command {
	input := []cli.Flag{
		&cli.StringSliceFlag{Name: "manifests", Usage: "read the stacks from these YAML files or directories (searched recursively for *.yaml) instead of rendering the spec (repeatable, one path each)"},
		&cli.BoolFlag{Name: "no-system-images", Usage: "leave out k0s's system images (with --manifests, the system images are those of k0s's default config)"},
		&cli.StringFlag{Name: "platform", Usage: "node platform os/arch[/variant] (default: spec.images.platform, else the board's)"},
	}
	registry := registryFlags()
	withSpec := func(fs ...[]cli.Flag) []cli.Flag {
		out := specFlags()
		for _, f := range fs {
			out = append(out, f...)
		}
		return out
	}
	return &cli.Command{
		Name:  "images",
		Usage: "list, pull, preload and bundle every image the node needs, pinned by digest",
		Description: `Every image the node will pull: containers of every workload in the stacks,
Knative's queue-proxy (config-deployment and its caching Image), k0s's system
images and spec.images.extra. 'pull' resolves each to a digest and fetches the
node platform's blobs into the shared cache (a second pull needs no network);
'preload' writes them into a containerd root as k0s's containerd reads it
(/var/lib/k0s/containerd); 'bundle' writes them as one OCI-layout tar for
<data-dir>/images of hosts we do not image ourselves.`,
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list every image the node needs and where it was found",
				Flags: withSpec(input, []cli.Flag{
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				}),
				Action: imagesList,
			},
			{
				Name:   "pull",
				Usage:  "resolve every image to a digest and fetch it into the cache",
				Flags:  withSpec(input, registry),
				Action: dryRunImages(func(c *cli.Context) error { _, _, err := imagesPull(c); return err }),
			},
			{
				Name:  "preload",
				Usage: "write the images into a new containerd root directory",
				Flags: withSpec(input, registry, []cli.Flag{
					&cli.StringFlag{Name: "root", Required: true, Usage: "containerd root to create (k0s: /var/lib/k0s/containerd)"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing file, symlink or non-empty directory at --root"},
				}),
				Action: dryRunImages(imagesPreload),
			},
			{
				Name:  "bundle",
				Usage: "write the images as one uncompressed OCI-layout tar (for <data-dir>/images)",
				Flags: withSpec(input, registry, []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "tar file to write"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing file"},
				}),
				Action: dryRunImages(imagesBundle),
			},
		},
	}
}

// findImages finds every image the spec's node needs (or those of
// --manifests), for --platform or the spec's.
func findImages(c *cli.Context) (*prepare.ImageSet, error) {
	d, err := loadSpec(c)
	if err != nil {
		return nil, err
	}
	ch, err := openCache(c)
	if err != nil {
		return nil, err
	}
	t, err := prepare.ResolveTarget(d, c.String("platform"))
	if err != nil {
		return nil, err
	}
	return prepare.FindImages(c.Context, d, prepare.ImagesOptions{
		Options:   prepareOptions(c, ch, t),
		Manifests: c.StringSlice("manifests"), NoSystemImages: c.Bool("no-system-images"),
	})
}

// printWarnings prints strings that looked like images but are not used
// as such.
func printWarnings[W fmt.Stringer](w io.Writer, ws []W) {
	for _, x := range ws {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

func imagesList(c *cli.Context) error {
	s, err := findImages(c)
	if err != nil {
		return err
	}
	list := s.List()
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPINNED\tFOUND AT")
	for _, e := range list.Images {
		d := "(not pulled)"
		switch {
		case strings.Contains(e.Node, "@"):
			d = "(by the reference)"
		case e.Digest != "":
			d = e.Digest
		}
		name := e.Ref
		if e.Node != e.Ref {
			name = e.Ref + " -> " + e.Node
		}
		for i, l := range e.Locations {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", name, d, l)
			} else {
				fmt.Fprintf(tw, "\t\t%s\n", l)
			}
		}
	}
	tw.Flush()
	printWarnings(c.App.ErrWriter, s.Warnings)
	return nil
}

// imagesPull pulls every image into the cache and returns the set, ready
// to preload or bundle, and how many images it pulled.
func imagesPull(c *cli.Context) (*prepare.ImageSet, int, error) {
	s, err := findImages(c)
	if err != nil {
		return nil, 0, err
	}
	printWarnings(c.App.ErrWriter, s.Warnings)
	res, err := s.Pull(c.Context)
	if err != nil {
		return nil, 0, err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPLATFORM\tSIZE")
	for _, im := range res.Images {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", im.Pinned(), im.PlatformString(), humanize.Bytes(im.Size()))
	}
	tw.Flush()
	for _, m := range res.Moved {
		fmt.Fprintf(c.App.ErrWriter, "tag moved: %s\n", m)
	}
	fmt.Fprintf(c.App.ErrWriter, "%d images for %s: %d blobs fetched (%s), %d already cached\n",
		len(res.Images), s.Platform, res.Fetched, humanize.Bytes(res.FetchedBytes), res.Cached)
	return s, len(res.Images), nil
}

func imagesPreload(c *cli.Context) error {
	o := prepare.PreloadOptions{Root: c.String("root"), Force: c.Bool("force")}
	// Before pulling: a refused root costs the user nothing.
	if err := o.Check(); err != nil {
		return err
	}
	s, n, err := imagesPull(c)
	if err != nil {
		return err
	}
	if err := s.Preload(c.Context, o); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "preloaded %d images into %s (namespace %s)\n", n, o.Root, prepare.Namespace)
	return nil
}

func imagesBundle(c *cli.Context) error {
	s, n, err := imagesPull(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	if err := s.WriteBundle(out, c.Bool("force")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %d images to %s\n", n, out)
	return nil
}
