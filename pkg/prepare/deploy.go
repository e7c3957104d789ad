package prepare

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
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
	// AllowCgroupV1 is set when the payload's kubelet runs with
	// failCgroupV1: false (k0sconfig.FailCgroupV1), for deploy's preflight.
	AllowCgroupV1 bool
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
	return &DeployPayload{Payload: p, InstallFlags: n.Render.K0s.InstallFlags(), DataDir: n.Render.DataDir, Warnings: n.Warnings,
		AllowCgroupV1: !n.Render.K0s.FailCgroupV1()}, nil
}

// TreePayload is the payload of the files under dir, laid out as on the
// node (payload.FromTree), installed with installFlags: what deploy
// uploads instead of a payload built from a spec. DataDir is left empty;
// AllowCgroupV1 comes from the tree's k0s.yaml, if it has one.
func TreePayload(dir string, installFlags []string) (*DeployPayload, error) {
	p, err := payload.FromTree(dir)
	if err != nil {
		return nil, err
	}
	dp := &DeployPayload{Payload: p, InstallFlags: installFlags}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k0spath.Config)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		cc, err := v1beta1.ConfigFromBytes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, filepath.FromSlash(k0spath.Config)), err)
		}
		dp.AllowCgroupV1 = !k0sconfig.FailCgroupV1(cc)
	}
	return dp, nil
}
