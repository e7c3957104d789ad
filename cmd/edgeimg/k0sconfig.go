package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/prepare"
)

func k0sconfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "k0sconfig",
		Usage: "print the node's k0s.yaml, or its install flags, systemd unit or system images",
		Description: `Builds k0s.yaml for the spec with k0s's own ClusterConfig API and checks it
with k0s's Validate: single node (kine storage), telemetry off, airgap pull
policy, kubelet reservations from the plan (what 'edgeimg plan' reserves for
the OS and the control plane, or spec.node.reserved) in the worker profile
"default", components disabled per spec, spec.k0s.config merged in last. The node's addresses are left for k0s to find at start.

--flags prints the arguments of 'k0s install controller', --unit the systemd
unit that command writes, --images the k0s system images the node needs.`,
		Flags: append(specFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically) instead of stdout"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing output file"},
			&cli.BoolFlag{Name: "flags", Usage: "print the arguments after 'k0s install controller'"},
			&cli.BoolFlag{Name: "unit", Usage: "print the systemd unit 'k0s install controller' writes"},
			&cli.BoolFlag{Name: "images", Usage: "print the k0s system images, one per line"},
			&cli.StringFlag{Name: "k0s-path", Value: k0spath.Binary, Usage: "path of the k0s binary on the node (for --unit)"},
		),
		Action: func(c *cli.Context) error {
			var modes []string
			for _, m := range []string{"flags", "unit", "images"} {
				if c.Bool(m) {
					modes = append(modes, "--"+m)
				}
			}
			if len(modes) > 1 {
				return fmt.Errorf("%s: expected at most one of --flags, --unit, --images", strings.Join(modes, " and "))
			}
			res, done, err := renderSpec(c)
			if done || err != nil {
				return err
			}
			o := prepare.K0sConfigOptions{K0sPath: c.String("k0s-path"), File: c.String("output"), Force: c.Bool("force")}
			switch {
			case c.Bool("flags"):
				o.Form = prepare.K0sInstallFlags
			case c.Bool("unit"):
				if !strings.HasPrefix(o.K0sPath, "/") {
					return fmt.Errorf("--k0s-path %q: expected an absolute path on the node", o.K0sPath)
				}
				o.Form = prepare.K0sUnit
			case c.Bool("images"):
				o.Form = prepare.K0sSystemImages
			}
			return prepare.WriteK0sConfig(c.App.Writer, res.K0s, o)
		},
	}
}
