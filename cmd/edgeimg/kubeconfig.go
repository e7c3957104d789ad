package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/k0sproject/rig"
	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/kubeconfig"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func kubeconfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "kubeconfig",
		Usage:     "fetch a node's admin kubeconfig over SSH, for kubectl (and kn) on this machine",
		ArgsUsage: " ",
		Description: `Reads k0s's admin kubeconfig (<data-dir>/pki/admin.conf) from the node over
SSH, with deploy's rules: the host key is checked against known_hosts
(unknown keys refused unless --accept-new-host-key, changed keys always),
--sudo for a user that is not root. The server becomes https://ADDRESS:6443
with the address SSH reached (or --server); the cluster, context and user
are named after metadata.name. Printed to stdout, or written to -o FILE with
mode 0600 (an existing FILE only with --force). The host is --host, or the
one host of spec.deploy.hosts.`,
		Flags: append(specFlags(),
			&cli.StringFlag{Name: "host", Usage: "the node, `[USER@]ADDRESS[:PORT]` (default: spec.deploy.hosts when it has one host)", Category: "Kubeconfig"},
			&cli.StringFlag{Name: "ssh-key", Usage: "private key for --host (default: the SSH agent and ~/.ssh)", Category: "Kubeconfig"},
			&cli.BoolFlag{Name: "sudo", Usage: "read the file with sudo when --host's user is not root", Category: "Kubeconfig"},
			&cli.BoolFlag{Name: "accept-new-host-key", Usage: "record an unknown host key in known_hosts instead of refusing it (a changed key is always refused)", Category: "Kubeconfig"},
			&cli.StringFlag{Name: "known-hosts", Usage: "known_hosts `FILE` (default: ssh_config's UserKnownHostsFile, ~/.ssh/known_hosts)", Category: "Kubeconfig"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (mode 0600) instead of stdout", Category: "Kubeconfig"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing -o FILE", Category: "Kubeconfig"},
			&cli.StringFlag{Name: "server", Usage: "API server `URL` in the kubeconfig, https://HOST[:PORT] (default: https://<the SSH address>:<the node's API port>)", Category: "Kubeconfig"},
			&cli.StringFlag{Name: "data-dir", Value: k0spath.DataDir, Usage: "k0s's data dir on the node", Category: "Kubeconfig"},
		),
		Action: runKubeconfig,
	}
}

func runKubeconfig(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("kubeconfig: unexpected argument %q (the node is --host)", c.Args().First())
	}
	if c.Bool("force") && c.String("output") == "" {
		return errors.New("--force: only with -o FILE")
	}
	d, err := loadSpec(c)
	if err != nil {
		return err
	}
	h, err := kubeconfigHost(c, d)
	if err != nil {
		return err
	}
	rig.SetLogger(deploy.RigLogger(c.App.ErrWriter, c.Bool("debug")))
	o := deploy.Options{
		DataDir:          c.String("data-dir"),
		AcceptNewHostKey: c.Bool("accept-new-host-key"),
		KnownHosts:       c.String("known-hosts"),
		Debug:            c.Bool("debug"),
	}
	if c.Bool("debug") || o.AcceptNewHostKey {
		// The phases' log, on stderr: with --accept-new-host-key it says
		// which key was recorded.
		o.Log = c.App.ErrWriter
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	data, reached, err := deploy.ReadKubeconfig(ctx, h, o)
	if err != nil {
		return err
	}
	out, err := kubeconfig.Rewrite(data, kubeconfig.Options{Name: d.Metadata.Name, Address: reached, Server: c.String("server")})
	if err != nil {
		return fmt.Errorf("%s: %w", h, err)
	}
	file := c.String("output")
	if file == "" {
		_, err = c.App.Writer.Write(out)
		return err
	}
	if err := kubeconfig.WriteFile(file, out, c.Bool("force")); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %s (context %s); kubectl --kubeconfig %s get ksvc -A\n", file, d.Metadata.Name, file)
	return nil
}

// kubeconfigHost is --host (with --ssh-key and --sudo), else the one host
// of spec.deploy.hosts.
func kubeconfigHost(c *cli.Context, d *spec.Document) (deploy.Host, error) {
	if arg := c.String("host"); arg != "" {
		h, err := deploy.ParseHost(arg)
		if err != nil {
			return h, fmt.Errorf("--host: %w", err)
		}
		h.KeyPath, h.Sudo = c.String("ssh-key"), c.Bool("sudo")
		return h, nil
	}
	for _, f := range []string{"ssh-key", "sudo"} {
		if c.IsSet(f) {
			return deploy.Host{}, fmt.Errorf("--%s: only with --host (spec.deploy.hosts sets keyPath and sudo per host)", f)
		}
	}
	hosts := deploy.HostsFromSpec(d)
	switch len(hosts) {
	case 0:
		return deploy.Host{}, errors.New("no host: pass --host [USER@]ADDRESS[:PORT] or set spec.deploy.hosts")
	case 1:
		return hosts[0], nil
	default:
		return deploy.Host{}, fmt.Errorf("spec.deploy.hosts has %d hosts, each its own cluster: pick one with --host", len(hosts))
	}
}
