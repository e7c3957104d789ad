package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/prepare"
)

func manifestsCommand() *cli.Command {
	return &cli.Command{
		Name:  "manifests",
		Usage: "write the fitted k0s manifest stacks, the staged stacks and their promoter",
		Description: `Writes, under DIR, the files exactly as they go onto the node:

  DIR/var/lib/k0s/manifests/<stack>/*.yaml     live stacks, applied by k0s
  DIR/var/lib/edgeimg/staged/<stack>/          stacks guarded by admission webhooks,
                                               with their gates and object lists
  DIR/usr/local/libexec/edgeimg/promote-staged the promoter (POSIX sh)
  DIR/etc/systemd/system/edgeimg-promote.service

DIR appears only when complete; an interrupted run (SIGINT, SIGTERM)
removes its staging directory and exits 130. DIR may be missing or an
empty directory; anything else there (a file, a symlink, a non-empty
directory) is refused before rendering unless --force, which replaces a
symlink itself, never its target. A device or other special file is
never replaced.`,
		Flags: append(specFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output directory", Required: true},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing file, symlink or non-empty directory at --output"},
			&cli.BoolFlag{Name: "changes", Usage: "list every change made to upstream objects"},
			&cli.StringFlag{Name: "data-dir", Usage: "k0s data dir on the node", Value: k0spath.DataDir},
		),
		Action: func(c *cli.Context) error {
			o := prepare.ManifestsOptions{Out: c.String("output"), Force: c.Bool("force"), DataDir: c.String("data-dir")}
			if !c.Bool("dry-run") {
				// Before rendering: a refused output costs the user nothing.
				if err := o.Check(); err != nil {
					return err
				}
			}
			res, done, err := renderSpec(c)
			if done || err != nil {
				return err
			}
			tree, err := prepare.WriteManifests(c.Context, res.Bundle, o)
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "wrote %d files to %s\n", tree.Files, o.Out)
			fmt.Fprintf(w, "  stacks:        %s\n", strings.Join(tree.Live, ", "))
			fmt.Fprintf(w, "  staged stacks: %s (promoted by %s)\n", strings.Join(tree.Staged, ", "), tree.Promoter)
			fmt.Fprintf(w, "  %d changes to upstream objects%s\n", len(res.Changes), map[bool]string{true: ":", false: " (--changes lists them)"}[c.Bool("changes")])
			if c.Bool("changes") {
				for _, ch := range res.Changes {
					fmt.Fprintf(w, "    %s: %s\n", ch.Where, ch.What)
				}
			}
			fmt.Fprintln(w, "  "+res.Plan.Verdict())
			return nil
		},
	}
}
