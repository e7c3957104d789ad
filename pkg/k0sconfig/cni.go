package k0sconfig

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Bridge network files on the node.
const (
	// BridgeConflistPath is the CNI configuration of network bridge.
	BridgeConflistPath = "/etc/cni/net.d/10-edgeimg-bridge.conflist"
	// CNIBinDir is where containerd's CRI plugin (as k0s configures it on
	// Linux: containerd's default) looks for CNI plugin binaries.
	CNIBinDir = "/opt/cni/bin"
	// bridgeName is the Linux bridge the pods attach to. k0s skips an
	// interface of this name when it picks the node's address (iface.
	// FirstPublicAddress), so the pod gateway can never become the API
	// address, even when the uplink has no address yet at boot.
	bridgeName = "kube-bridge"
	// CNIPackage is the Debian package with the CNI plugins, installed
	// in DebianCNIDir.
	CNIPackage = "containernetworking-plugins"
	// DebianCNIDir is where CNIPackage puts the plugins.
	DebianCNIDir = "/usr/lib/cni"
)

// CNIPlugins are the CNI plugin binaries the image must put into
// /opt/cni/bin (Debian's containernetworking-plugins has them all in
// /usr/lib/cni). With network kuberouter, kube-router's install-cni-bins
// init container installs them and the list is empty; with provider
// "custom" nothing in k0s does. loopback is what containerd 1.7's CRI
// plugin sets up in every pod.
func (c *Config) CNIPlugins() []string {
	if c.network != spec.NetworkBridge {
		return nil
	}
	return []string{"bridge", "host-local", "loopback", "portmap"}
}

// CNILinks are the links the node needs in CNIBinDir to Debian's plugins
// (CNIPlugins), which OSPackages brings.
func (c *Config) CNILinks() []payload.Link {
	var out []payload.Link
	for _, n := range c.CNIPlugins() {
		out = append(out, payload.Link{Path: CNIBinDir + "/" + n, Target: DebianCNIDir + "/" + n})
	}
	return out
}

// OSPackages are the Debian packages the node's OS needs for this config:
// the CNI plugins of network bridge.
func (c *Config) OSPackages() []string {
	if len(c.CNIPlugins()) == 0 {
		return nil
	}
	return []string{CNIPackage}
}

// ExtraFiles are the files the node needs besides k0s.yaml and the unit:
// for network bridge, the CNI conflist (bridge + host-local IPAM on the k0s
// pod CIDR + portmap).
func (c *Config) ExtraFiles() []payload.File {
	if c.conflist == nil {
		return nil
	}
	return []payload.File{{Path: BridgeConflistPath, Mode: 0o644, Data: bytes.Clone(c.conflist)}}
}

func (c *Config) bridgeConflist() ([]byte, error) {
	n := c.Cluster.Spec.Network
	ranges := []any{[]any{map[string]any{"subnet": n.PodCIDR}}}
	routes := []any{map[string]any{"dst": "0.0.0.0/0"}}
	if n.DualStack.Enabled && n.DualStack.IPv6PodCIDR != "" {
		ranges = append(ranges, []any{map[string]any{"subnet": n.DualStack.IPv6PodCIDR}})
		routes = append(routes, map[string]any{"dst": "::/0"})
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "edgeimg-bridge",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridgeName,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true, // a pod reaching itself through its Service
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": ranges,
					"routes": routes,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bridge CNI config: %w", err)
	}
	return append(data, '\n'), nil
}
