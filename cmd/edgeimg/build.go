package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/prepare"
)

func buildCommand(now func() time.Time) *cli.Command {
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
		Flags: append(append(specFlags(), registryFlags()...),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output directory", Required: true},
			&cli.StringSliceFlag{Name: "format", Usage: "output formats (overrides spec.output.formats), comma-separated"},
			&cli.BoolFlag{Name: "force", Usage: "replace existing outputs"},
			&cli.StringFlag{Name: "payload", Usage: "use the files of `DIR`, laid out as on the node, instead of the payload rendered from the spec"},
			&cli.StringSliceFlag{Name: "enable-unit", Usage: "systemd units of --payload to enable (e.g. k0scontroller.service; repeatable or comma-separated)"},
			&cli.BoolFlag{Name: "os-only", Usage: "build the OS with its first-boot units but no k0s payload"},
			&cli.IntFlag{Name: "zstd-level", Usage: "zstd level for img.zst", Value: format.DefaultZstdLevel},
			&cli.IntFlag{Name: "xz-level", Usage: "xz level for img.xz", Value: format.DefaultXzLevel},
		),
		Action: func(c *cli.Context) error { return runBuild(c, now()) },
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

func runBuild(c *cli.Context, now time.Time) error {
	d, err := loadSpec(c)
	if err != nil {
		return err
	}
	warnSupport(c, d, now)
	if _, err := printSpecIfDryRun(c, d); err != nil {
		return err
	}
	formats := commaList(c, "format")
	ca, err := openCache(c)
	if err != nil {
		return err
	}
	opts := image.Options{
		Spec: d, Formats: formats,
		OutDir: c.String("output"), Force: c.Bool("force"), DryRun: c.Bool("dry-run"),
		Cache: ca, ZstdLevel: c.Int("zstd-level"), XzLevel: c.Int("xz-level"),
		Status: c.App.Writer, Live: isTerminal(c.App.Writer),
	}
	switch {
	case c.Bool("os-only"):
	case c.String("payload") != "":
		dp, err := treePayload(c)
		if err != nil {
			return err
		}
		opts.Payload = dp.Payload
		opts.EnableUnits = commaList(c, "enable-unit")
	default:
		t, err := prepare.ResolveTarget(d, "")
		if err != nil {
			return err
		}
		if opts.Epoch, err = image.ResolveEpoch(0); err != nil {
			return err
		}
		if opts.Source, err = prepare.NewImageSource(d, opts.Epoch, prepareOptions(c, ca, t)); err != nil {
			return err
		}
	}
	b, err := image.NewBuilder(opts)
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
		fmt.Fprintf(tw, "  %s\t%s\t%s allocated\tsha256 %s\n", o.File, humanize.Bytes(o.Size), humanize.Bytes(o.Allocated), o.SHA256)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nLock file %s, debug log %s\n", filepath.Join(c.String("output"), image.LockName), res.LogPath)
	return nil
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
