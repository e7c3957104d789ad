package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/k0sproject/rig"
	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func deployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "push the payload to existing Linux hosts over SSH and run it there with k0s",
		ArgsUsage: " ",
		Description: `Connects to every host (spec.deploy.hosts, or --host), checks its SSH host
key against known_hosts, gathers facts, runs preflight checks, uploads the
payload (each file checked with sha256sum on the host; interrupted uploads
resume; files the host already has are not sent again), installs k0s as a
single-node controller, starts it and waits for the node and the stacks.
Hosts run in parallel (spec.deploy.concurrency); a failing host does not
stop the others. --dry-run connects and reports what each phase would do.
--reset stops and resets k0s and removes what deploy uploaded.`,
		Flags: append(append(specFlags(), registryFlags()...),
			&cli.StringSliceFlag{Name: "host", Usage: "target `[USER@]ADDRESS[:PORT]` (repeatable or comma-separated; replaces spec.deploy.hosts)", Category: "Deploy"},
			&cli.StringFlag{Name: "ssh-key", Usage: "private key for --host targets (default: the SSH agent and ~/.ssh)", Category: "Deploy"},
			&cli.BoolFlag{Name: "sudo", Usage: "use sudo on --host targets whose user is not root", Category: "Deploy"},
			&cli.BoolFlag{Name: "accept-new-host-key", Usage: "record unknown host keys in known_hosts instead of refusing them (changed keys are always refused)", Category: "Deploy"},
			&cli.StringFlag{Name: "known-hosts", Usage: "known_hosts `FILE` (default: ssh_config's UserKnownHostsFile, ~/.ssh/known_hosts)", Category: "Deploy"},
			&cli.BoolFlag{Name: "upload-only", Usage: "upload and verify the payload, do not install or start k0s", Category: "Deploy"},
			&cli.StringFlag{Name: "payload", Usage: "deploy the files of `DIR`, laid out as on the node, instead of the payload rendered from the spec", Category: "Deploy"},
			&cli.StringSliceFlag{Name: "install-flag", Usage: "extra flag for 'k0s install controller' (repeatable, one flag each, commas kept: with --payload)", Category: "Deploy"},
			&cli.StringFlag{Name: "root", Usage: "prefix every node path with `DIR` on the hosts (staging into a mounted root; implies --upload-only)", Category: "Deploy"},
			&cli.BoolFlag{Name: "ignore-sysinfo", Usage: "go on when 'k0s sysinfo' rejects a host", Category: "Deploy"},
			&cli.BoolFlag{Name: "reset", Usage: "stop and reset k0s (k0s reset) and remove what deploy uploaded", Category: "Deploy"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation (--reset)", Category: "Deploy"},
		),
		Action: runDeploy,
	}
}

func runDeploy(c *cli.Context) error {
	d, err := loadSpec(c)
	if err != nil {
		return err
	}
	if _, err := printSpecIfDryRun(c, d); err != nil {
		return err
	}
	hosts, err := deployHosts(c, d)
	if err != nil {
		return err
	}
	rig.SetLogger(deploy.RigLogger(c.App.ErrWriter, c.Bool("debug")))
	t, err := prepare.ResolveTarget(d, "")
	if err != nil {
		return err
	}
	o, err := deploy.OptionsFromSpec(d, t.Arch)
	if err != nil {
		return err
	}
	o.Root = c.String("root")
	o.UploadOnly = c.Bool("upload-only") || o.Root != ""
	o.DryRun = c.Bool("dry-run")
	o.AcceptNewHostKey = c.Bool("accept-new-host-key")
	o.KnownHosts = c.String("known-hosts")
	o.IgnoreSysinfo = c.Bool("ignore-sysinfo")
	o.Log = c.App.Writer
	o.Debug = c.Bool("debug")
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var results []deploy.Result
	if c.Bool("reset") {
		if !o.DryRun && !c.Bool("yes") {
			if err := confirmReset(c.App.Reader, c.App.Writer, hosts); err != nil {
				return err
			}
		}
		if dir := c.String("payload"); dir != "" {
			dp, err := treePayload(c)
			if err != nil {
				return err
			}
			o.Payload = dp.Payload
		}
		results, err = deploy.Reset(ctx, hosts, o)
	} else {
		if err := deployPayload(ctx, c, d, t, &o); err != nil {
			return err
		}
		results, err = deploy.Deploy(ctx, hosts, o)
	}
	if len(results) > 0 {
		fmt.Fprintln(c.App.Writer)
		if werr := deploy.WriteSummary(c.App.Writer, results); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// deployPayload sets the payload, the k0s install flags and k0s's data dir
// of o: the tree given with --payload, else the payload built from the
// spec for the node t.
func deployPayload(ctx context.Context, c *cli.Context, d *spec.Document, t prepare.Target, o *deploy.Options) error {
	if c.String("payload") != "" {
		dp, err := treePayload(c)
		if err != nil {
			return err
		}
		o.Payload, o.InstallArgs, o.AllowCgroupV1 = dp.Payload, dp.InstallFlags, dp.AllowCgroupV1
		return nil
	}
	ch, err := openCache(c)
	if err != nil {
		return err
	}
	dp, err := prepare.NewDeployPayload(ctx, d, prepareOptions(c, ch, t))
	if err != nil {
		return err
	}
	printWarnings(c.App.ErrWriter, dp.Warnings)
	o.Payload, o.InstallArgs, o.DataDir, o.AllowCgroupV1 = dp.Payload, dp.InstallFlags, dp.DataDir, dp.AllowCgroupV1
	return nil
}

// treePayload is the payload of the files of --payload DIR, installed
// with --install-flag (deploy; build has no such flag).
func treePayload(c *cli.Context) (*prepare.DeployPayload, error) {
	dir := c.String("payload")
	dp, err := prepare.TreePayload(dir, c.StringSlice("install-flag"))
	if err != nil {
		return nil, fmt.Errorf("--payload %s: %w", dir, err)
	}
	return dp, nil
}

// deployHosts returns the --host targets, or spec.deploy.hosts.
func deployHosts(c *cli.Context, d *spec.Document) ([]deploy.Host, error) {
	var hosts []deploy.Host
	for _, arg := range commaList(c, "host") {
		h, err := deploy.ParseHost(arg)
		if err != nil {
			return nil, fmt.Errorf("--host: %w", err)
		}
		h.KeyPath, h.Sudo = c.String("ssh-key"), c.Bool("sudo")
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		hosts = deploy.HostsFromSpec(d)
	}
	if len(hosts) == 0 {
		return nil, errors.New("no hosts: set spec.deploy.hosts or pass --host [USER@]ADDRESS[:PORT]")
	}
	return hosts, nil
}

func confirmReset(in io.Reader, out io.Writer, hosts []deploy.Host) error {
	var names []string
	for _, h := range hosts {
		names = append(names, h.String())
	}
	fmt.Fprintf(out, "Reset %s?\nThis stops k0s, runs k0s reset (deleting its data dir: cluster state, images, manifests)\nand removes the files edgeimg deploy uploaded. Type yes to go on: ", strings.Join(names, ", "))
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reset: read confirmation: %w", err)
	}
	if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
		return errors.New("reset not confirmed (pass --yes to skip the question)")
	}
	return nil
}
