package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build the bootable edge OS image in every format asked for",
		ArgsUsage: " ",
		Description: `Builds a Debian base (mmdebstrap, cached), lays edgeimg's first-boot units
and the node payload over it, and assembles a disk image for the board
without loop devices or mounts, then converts it. Outputs go to -o DIR under
temporary names and are renamed only when every step succeeded; existing
outputs are replaced only with --force. --dry-run prints what would be built.

Formats: ` + formatList() + `

Boards: see 'edgeimg boards'.`,
		Flags: append(specFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output directory", Required: true},
			&cli.StringSliceFlag{Name: "format", Usage: "output formats (overrides spec.output.formats), comma-separated"},
			&cli.BoolFlag{Name: "force", Usage: "replace existing outputs"},
			&cli.StringFlag{Name: "payload", Usage: "directory laid over the root file system as it is (node paths, modes kept)"},
			&cli.StringSliceFlag{Name: "enable-unit", Usage: "systemd unit of the payload to enable (e.g. k0scontroller.service)"},
			&cli.IntFlag{Name: "zstd-level", Usage: "zstd level for img.zst", Value: format.DefaultZstdLevel},
			&cli.IntFlag{Name: "xz-level", Usage: "xz level for img.xz", Value: format.DefaultXzLevel},
		),
		Action: runBuild,
	}
}

func formatList() string {
	var b strings.Builder
	known := format.Formats()
	for _, n := range format.Names() {
		fmt.Fprintf(&b, "\n  %-8s %s", n, known[n].Doc)
	}
	return b.String()
}

func runBuild(c *cli.Context) error {
	d, err := loadSpec(c)
	if err != nil {
		return err
	}
	var formats []string
	for _, f := range c.StringSlice("format") {
		for _, x := range strings.Split(f, ",") {
			if x = strings.TrimSpace(x); x != "" {
				formats = append(formats, x)
			}
		}
	}
	ca, err := cache.New(c.String("cache-dir"))
	if err != nil {
		return err
	}
	p, units, err := nodePayload(c)
	if err != nil {
		return err
	}
	b, err := image.NewBuilder(image.Options{
		Spec: d, Payload: p, EnableUnits: units, Formats: formats,
		OutDir: c.String("output"), Force: c.Bool("force"), DryRun: c.Bool("dry-run"),
		Cache: ca, ZstdLevel: c.Int("zstd-level"), XzLevel: c.Int("xz-level"),
		Status: c.App.Writer, Live: isTerminal(c.App.Writer),
	})
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Building %s for %s (%s) into %s\n", d.Metadata.Name, b.Board().Name, strings.Join(b.Formats(), ", "), c.String("output"))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	res, err := b.Build(ctx)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		return nil
	}
	fmt.Fprintln(w, "\nOutputs:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range res.Outputs {
		fmt.Fprintf(tw, "  %s\t%s\t%s allocated\tsha256 %s\n", o.File, buildSize(o.Size), buildSize(o.Allocated), o.SHA256)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nSteps:")
	for _, r := range res.Phases {
		fmt.Fprintf(w, "  %-22s %8s  %s\n", r.Title, r.Duration.Round(100_000_000), r.Detail)
	}
	fmt.Fprintf(w, "\nLock file %s, debug log %s\n", filepath.Join(c.String("output"), image.LockName), res.LogPath)
	return nil
}

// nodePayload is the payload from the command line: --payload DIR (every
// file under DIR goes to the same path on the node) and --enable-unit.
// The pipeline that renders k0s.yaml and the stacks and preloads the
// images (pkg/k0sconfig, pkg/bundle, pkg/airgap) adds its files here.
func nodePayload(c *cli.Context) (*payload.Payload, []string, error) {
	p := &payload.Payload{}
	if dir := c.String("payload"); dir != "" {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				return nil
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("--payload %s: %s is not a regular file", dir, path)
			}
			rel, _ := filepath.Rel(dir, path)
			p.AddFile("/"+filepath.ToSlash(rel), fi.Mode().Perm(), path)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("--payload: %w", err)
		}
	}
	return p, c.StringSlice("enable-unit"), nil
}

func buildSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func boardsCommand() *cli.Command {
	return &cli.Command{
		Name:  "boards",
		Usage: "list the boards images are built for",
		Action: func(c *cli.Context) error {
			bs, err := image.Boards()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "BOARD\tARCH\tTABLE\tBOOT\tDESCRIPTION")
			for _, b := range bs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, b.Arch, b.PartitionTable, b.Bootloader, b.Description)
			}
			tw.Flush()
			for _, b := range bs {
				if b.Unsupported != "" {
					fmt.Fprintf(c.App.Writer, "\n%s: %s\n", b.Name, strings.TrimSpace(b.Unsupported))
				}
			}
			return nil
		},
	}
}

// isTerminal reports whether w is a terminal (for the live progress line).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
