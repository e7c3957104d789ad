package main

import (
	"time"

	"github.com/urfave/cli/v2"
)

// exitDoesNotFit is plan's exit status when the stack does not fit.
const exitDoesNotFit = 3

func planCommand(now func() time.Time) *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show how the stack's CPU and memory requests fit the node",
		Description: `Lists every container that will run on the node (Knative, Kourier, MetalLB,
k0s's own system pods, your Knative Services with their queue-proxy), its
requests and limits before → after the resource strategy, the node's
capacity, what is reserved for the OS and the k0s control plane, the
eviction threshold, allocatable, and a verdict. It warns when the k0s
release's Kubernetes line is out of support or within 60 days of it (see
'edgeimg versions').

Exit status: 0 when the stack fits, 3 when it does not.`,
		Flags: append(specFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print the plan as a JSON document"},
		),
		Action: func(c *cli.Context) error {
			res, done, err := renderSpec(c)
			if done || err != nil {
				return err
			}
			warnSupport(c, res.Spec, now())
			if c.Bool("json") {
				err = res.Plan.WriteJSON(c.App.Writer)
			} else {
				err = res.Plan.WriteTable(c.App.Writer)
			}
			if err != nil {
				return err
			}
			if !res.Plan.Fits {
				return cli.Exit("", exitDoesNotFit)
			}
			return nil
		},
	}
}
