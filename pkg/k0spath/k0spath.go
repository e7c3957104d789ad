package k0spath

import "path"

// Paths on the node.
const (
	// Binary is where the image and deploy steps put the k0s binary.
	Binary = "/usr/local/bin/k0s"
	// Config is where k0s.yaml goes; the unit passes it with --config.
	Config = "/etc/k0s/k0s.yaml"
	// DataDir is k0s's default data directory.
	DataDir = "/var/lib/k0s"
	// UnitName is the systemd unit `k0s install controller` creates.
	UnitName = "k0scontroller.service"
	// UnitPath is where `k0s install controller` writes the unit.
	UnitPath = "/etc/systemd/system/" + UnitName
)

// Manifests is the manifest deployer's directory under dataDir: one
// subdirectory per stack, applied by k0s.
func Manifests(dataDir string) string { return path.Join(dataDir, "manifests") }

// Images is the directory under dataDir whose image bundles k0s imports
// into containerd on every start.
func Images(dataDir string) string { return path.Join(dataDir, "images") }

// Containerd is the root of k0s's containerd under dataDir.
func Containerd(dataDir string) string { return path.Join(dataDir, "containerd") }
