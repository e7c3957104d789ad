package prepare

import (
	"context"

	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

// ManifestsOptions say where WriteManifests writes a node's manifests
// tree and for which k0s data dir.
type ManifestsOptions struct {
	// Out is the directory to create. It appears only when complete; it
	// may be missing or an empty directory.
	Out string
	// Force replaces a file, a symlink (the link itself, never its
	// target) or a non-empty directory at Out. A device or other special
	// file is never replaced.
	Force bool
	// DataDir is k0s's data dir on the node (bundle.Layout).
	DataDir string
}

// Check reports, before any work is done, whether WriteManifests would
// refuse o.Out.
func (o ManifestsOptions) Check() error { return fsutil.CheckDirOutput(o.Out, o.Force) }

// ManifestsTree is what WriteManifests wrote.
type ManifestsTree struct {
	// Files is how many files were written.
	Files int
	// Live and Staged are the stack names applied by k0s and those
	// promoted later by Promoter, the systemd unit.
	Live, Staged []string
	Promoter     string
}

// WriteManifests writes the files of b under o.Out exactly as they go onto
// the node: the live stacks in k0s's manifests dir, the staged stacks with
// their promoter and its unit. Out is staged next to itself and renamed
// into place; when ctx is done first (an interrupted run), nothing is left
// behind.
func WriteManifests(ctx context.Context, b *bundle.Bundle, o ManifestsOptions) (*ManifestsTree, error) {
	p, err := b.Payload(bundle.Layout{DataDir: o.DataDir})
	if err != nil {
		return nil, err
	}
	tmp, commit, abort, err := fsutil.StageDir(ctx, o.Out, o.Force)
	if err != nil {
		return nil, err
	}
	if err := p.WriteTree(tmp); err != nil {
		abort()
		return nil, err
	}
	if err := commit(); err != nil {
		abort()
		return nil, err
	}
	live, staged := b.StackNames()
	return &ManifestsTree{Files: len(p.Files), Live: live, Staged: staged, Promoter: bundle.PromoterUnitName}, nil
}
