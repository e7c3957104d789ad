package prepare

import (
	"context"
	"slices"

	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// DeployPayload is what 'edgeimg deploy' uploads to a host and how k0s is
// installed there.
type DeployPayload struct {
	// Payload is the node files without the k0s controller unit, which
	// 'k0s install' writes, and with the images as one OCI bundle in
	// <data-dir>/images, which k0s imports.
	Payload *payload.Payload
	// InstallFlags are the arguments of 'k0s install controller'.
	InstallFlags []string
	// DataDir is k0s's data dir on the node.
	DataDir string
	// Warnings are strings that looked like images but are not used as
	// such.
	Warnings []airgap.Warning
}

// NewDeployPayload builds the payload of the node described by d (every
// step of PayloadBuilder) in the form deploy uploads it.
func NewDeployPayload(ctx context.Context, d *spec.Document, o Options) (*DeployPayload, error) {
	n, err := NewPayloadBuilder(d, o)
	if err != nil {
		return nil, err
	}
	if err := n.Run(ctx); err != nil {
		return nil, err
	}
	p, err := n.Payload()
	if err != nil {
		return nil, err
	}
	p.Files = slices.DeleteFunc(p.Files, func(f payload.File) bool { return f.Path == k0spath.UnitPath })
	bundle, err := n.BundleFile()
	if err != nil {
		return nil, err
	}
	p.AddFile(n.BundlePath(), 0o644, bundle)
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return &DeployPayload{Payload: p, InstallFlags: n.Render.K0s.InstallFlags(), DataDir: n.Render.DataDir, Warnings: n.Warnings}, nil
}

// TreePayload is the payload of the files under dir, laid out as on the
// node (payload.FromTree), installed with installFlags: what deploy
// uploads instead of a payload built from a spec. DataDir is left empty.
func TreePayload(dir string, installFlags []string) (*DeployPayload, error) {
	p, err := payload.FromTree(dir)
	if err != nil {
		return nil, err
	}
	return &DeployPayload{Payload: p, InstallFlags: installFlags}, nil
}
