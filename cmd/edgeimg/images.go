package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	k0sairgap "github.com/k0sproject/k0s/pkg/airgap"
	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"
	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/spec"
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

// nodeObjects is where the images commands get the objects the node will
// run and k0s's system images: the spec's rendered stacks and k0s config,
// or, with --manifests, the stack YAML given and the system images of
// k0s's default config.
func nodeObjects(c *cli.Context, d *spec.Document) ([]bundle.Object, []string, error) {
	if paths := c.StringSlice("manifests"); len(paths) > 0 {
		objs, err := readManifests(paths)
		if err != nil {
			return nil, nil, err
		}
		var system []string
		if !c.Bool("no-system-images") {
			system = k0sairgap.GetImageURIs(v1beta1.DefaultClusterSpec(), false)
		}
		return objs, system, nil
	}
	r, err := renderDoc(c, d)
	if err != nil {
		return nil, nil, err
	}
	var system []string
	if !c.Bool("no-system-images") {
		system = r.K0s.SystemImages()
	}
	return r.Bundle.Objects(), system, nil
}

// readManifests reads YAML files, and the *.yaml/*.yml files below
// directories, into objects; the stack is the file's directory relative to
// the directory given (its base name for files directly in it).
func readManifests(paths []string) ([]bundle.Object, error) {
	var out []bundle.Object
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--manifests: %w", err)
		}
		if !fi.IsDir() {
			objs, err := readManifestFile(p, filepath.Base(filepath.Dir(p)))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--manifests: %w", err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("--manifests %s: no *.yaml files", p)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(p, filepath.Dir(f))
			stack := filepath.ToSlash(rel)
			if stack == "." {
				stack = filepath.Base(filepath.Clean(p))
			}
			objs, err := readManifestFile(f, stack)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func readManifestFile(path, stack string) ([]bundle.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []bundle.Object
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, bundle.Object{Stack: stack, File: filepath.Base(path), Obj: &unstructured.Unstructured{Object: m}})
	}
	return out, nil
}

// imageSetup is what every images subcommand starts from.
type imageSetup struct {
	refs     []airgap.Ref
	warnings []airgap.Warning
	opt      airgap.Options
	store    *airgap.Store
}

func setupImages(c *cli.Context) (*imageSetup, error) {
	d, err := loadSpec(c)
	if err != nil {
		return nil, err
	}
	objs, system, err := nodeObjects(c, d)
	if err != nil {
		return nil, err
	}
	refs, warnings := airgap.Find(objs, d.Spec.Images.Extra, system)
	platform, _, err := boardPlatform(d)
	if err != nil {
		return nil, err
	}
	opt := airgap.OptionsFromSpec(d.Spec.Images, platform)
	if p := c.String("platform"); p != "" {
		opt.Platform = p
	}
	if opt.Platform == "" {
		return nil, fmt.Errorf("board %q has no known image platform: set spec.images.platform or --platform", d.Spec.Board)
	}
	opt.Insecure = append(opt.Insecure, commaList(c, "insecure-registry")...)
	opt.Refresh = c.Bool("refresh")
	opt.Jobs = c.Int("jobs")
	ch, err := openCache(c)
	if err != nil {
		return nil, err
	}
	return &imageSetup{refs: refs, warnings: warnings, opt: opt, store: airgap.NewStore(ch)}, nil
}

func printWarnings(w io.Writer, ws []airgap.Warning) {
	for _, x := range ws {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

type listEntry struct {
	Ref       string            `json:"ref"`
	Node      string            `json:"node"`
	Digest    string            `json:"digest,omitempty"`
	Locations []airgap.Location `json:"locations"`
}

func imagesList(c *cli.Context) error {
	s, err := setupImages(c)
	if err != nil {
		return err
	}
	var entries []listEntry
	for _, r := range s.refs {
		node := s.opt.Replace.Apply(r.Ref)
		e := listEntry{Ref: r.Ref, Node: node, Locations: r.Locations}
		e.Digest, _ = s.store.KnownDigest(node)
		entries = append(entries, e)
	}
	if c.Bool("json") {
		out := struct {
			Platform string           `json:"platform"`
			Images   []listEntry      `json:"images"`
			Warnings []airgap.Warning `json:"warnings"`
		}{s.opt.Platform, entries, s.warnings}
		if out.Warnings == nil {
			out.Warnings = []airgap.Warning{}
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPINNED\tFOUND AT")
	for _, e := range entries {
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
	printWarnings(c.App.ErrWriter, s.warnings)
	return nil
}

// imagesPull pulls every image into the store, which it returns with
// what was pulled.
func imagesPull(c *cli.Context) (*airgap.Store, *airgap.Result, error) {
	s, err := setupImages(c)
	if err != nil {
		return nil, nil, err
	}
	printWarnings(c.App.ErrWriter, s.warnings)
	s.opt.Progress = c.App.ErrWriter
	res, err := airgap.Pull(c.Context, s.store, s.refs, s.opt)
	if err != nil {
		return nil, nil, err
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
		len(res.Images), s.opt.Platform, res.Fetched, humanize.Bytes(res.FetchedBytes), res.Cached)
	return s.store, res, nil
}

func imagesPreload(c *cli.Context) error {
	// Before pulling: a refused root costs the user nothing.
	if err := fsutil.CheckDirOutput(c.String("root"), c.Bool("force")); err != nil {
		return err
	}
	store, res, err := imagesPull(c)
	if err != nil {
		return err
	}
	root := c.String("root")
	if err := store.Preload(c.Context, root, res.Images, airgap.PreloadOptions{Force: c.Bool("force")}); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "preloaded %d images into %s (namespace %s)\n", len(res.Images), root, airgap.Namespace)
	return nil
}

func imagesBundle(c *cli.Context) error {
	store, res, err := imagesPull(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	if err := store.WriteBundleFile(out, res.Images, c.Bool("force")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %d images to %s\n", len(res.Images), out)
	return nil
}
