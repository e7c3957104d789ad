package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

func specCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "validate a spec and print it fully defaulted",
		Description: `Reads -f FILE (or the embedded default), applies flags, and prints the
result with every default filled in. 'edgeimg spec --default' prints the
embedded default spec as written, a starting point for your own edgeimg.yaml.`,
		Flags: append(specFlags(),
			&cli.BoolFlag{Name: "print", Usage: "print the fully defaulted spec (the default action)"},
			&cli.BoolFlag{Name: "default", Usage: "print the embedded default spec with its comments"},
		),
		Action: func(c *cli.Context) error {
			if c.Bool("default") {
				_, err := c.App.Writer.Write(spec.DefaultYAML())
				return err
			}
			d, err := loadSpec(c)
			if err != nil {
				return err
			}
			data, err := d.Marshal()
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, string(data))
			return nil
		},
	}
}
