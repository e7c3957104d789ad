package deploy

import (
	"fmt"
	"time"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// OptionsFromSpec returns the options a spec gives a deploy: the k0s
// version (spec.k0s.version), the node memory preflight checks against
// (spec.node.memory), the wait timeout (spec.deploy.timeout) and how many
// hosts run at once (spec.deploy.concurrency). arch is the node's
// architecture, resolved from its board by the caller. The payload, the
// install flags and what the command line sets are left to the caller.
func OptionsFromSpec(d *spec.Document, arch string) (Options, error) {
	s := &d.Spec
	timeout, err := time.ParseDuration(s.Deploy.Timeout)
	if err != nil {
		return Options{}, fmt.Errorf("spec.deploy.timeout: %w", err)
	}
	return Options{
		K0sVersion:  s.K0s.Version,
		Arch:        arch,
		Memory:      s.Node.Memory.Value(),
		Timeout:     timeout,
		Concurrency: s.Deploy.Concurrency,
	}, nil
}

// HostsFromSpec returns the hosts of spec.deploy.hosts, in order.
func HostsFromSpec(d *spec.Document) []Host {
	var hosts []Host
	for _, h := range d.Spec.Deploy.Hosts {
		hosts = append(hosts, Host{Address: h.Address, Port: h.Port, User: h.User, KeyPath: h.KeyPath, Sudo: h.Sudo})
	}
	return hosts
}
