package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/image/device"
)

func deviceConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "device-config",
		Usage: "write the per-device config (edgeimg-device.yaml) into a built raw image",
		Description: `Validates -f FILE and writes it as edgeimg-device.yaml onto the image's FAT
boot partition, without rebuilding: hostname, static or DHCP network, SSH
keys, MetalLB addresses and node labels for one device of a fleet. The image
is changed in a copy that replaces it only when complete. With --print and
no -f, prints the device file the image holds. On a flashed card, edit
edgeimg-device.yaml on its FAT partition instead (see the .example there).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Aliases: []string{"i"}, Usage: "raw image (.img)", Required: true},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "device config YAML"},
			&cli.BoolFlag{Name: "print", Usage: "print the device file of the image"},
		},
		Action: func(c *cli.Context) error {
			img := c.String("image")
			if c.String("file") == "" {
				if !c.Bool("print") {
					return fmt.Errorf("-f FILE: expected a device config file (or --print)")
				}
				data, err := device.ReadImage(img)
				if err != nil {
					return err
				}
				if data == nil {
					fmt.Fprintf(c.App.ErrWriter, "%s has no %s\n", img, device.FileName)
					return nil
				}
				_, err = c.App.Writer.Write(data)
				return err
			}
			data, err := os.ReadFile(c.String("file"))
			if err != nil {
				return err
			}
			cfg, err := device.Parse(c.String("file"), data)
			if err != nil {
				return err
			}
			if err := device.WriteImage(img, cfg); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s into %s\n", device.FileName, img)
			if c.Bool("print") {
				_, err = c.App.Writer.Write(cfg.Marshal())
			}
			return err
		},
	}
}
