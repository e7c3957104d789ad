package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/k0sbin"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func versionsCommand(now func() time.Time) *cli.Command {
	return &cli.Command{
		Name:  "versions",
		Usage: "list the k0s releases edgeimg pins, their Kubernetes and containerd, and end of life",
		Description: `One line per k0s release with pinned binaries: the Kubernetes and containerd
it embeds, the end of life of its Kubernetes line and its status today:
default (the embedded default spec's), supported, ends soon (within 60 days
of its end of life: plan and build warn) or end of life.`,
		Action: func(c *cli.Context) error {
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "K0S\tKUBERNETES\tCONTAINERD\tEND OF LIFE\tSTATUS")
			for _, s := range k0sbin.Supports(now()) {
				eol := "-"
				if !s.EndOfLife.IsZero() {
					eol = s.EndOfLife.Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.K0s, s.Kubernetes, s.Containerd, eol, s.Status())
			}
			return tw.Flush()
		},
	}
}

// warnSupport tells on stderr when the spec's k0s runs a Kubernetes line
// out of support on day now, or within 60 days of it.
func warnSupport(c *cli.Context, d *spec.Document, now time.Time) {
	if w := k0sbin.Warning(d.Spec.K0s.Version, now); w != "" {
		fmt.Fprintf(c.App.ErrWriter, "edgeimg: warning: %s\n", w)
	}
}
