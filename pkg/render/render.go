package render

import (
	"context"
	"fmt"

	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/plan"
	"github.com/edgeimg/edgeimg/pkg/spec"
	"github.com/edgeimg/edgeimg/pkg/upstream"
)

// Options configures NodeConfig.
type Options struct {
	// Upstream is a directory of release files; empty means the catalog
	// through Cache (spec.upstream is used when this is empty).
	Upstream string
	Cache    *cache.Cache
	// DataDir is k0s's data dir on the node (default /var/lib/k0s).
	DataDir string
}

// Result is everything rendered from one spec.
type Result struct {
	Spec    *spec.Document
	K0s     *k0sconfig.Config
	Bundle  *bundle.Bundle
	Plan    *plan.Plan
	Changes []bundle.Change
	// LBAddress is the Kourier LoadBalancer address, Domain the Knative
	// domain.
	LBAddress, Domain string
	DataDir           string
}

// NodeConfig is the node's configuration for d: the k0s config and the
// bundle fitted to the node with its plan.
func NodeConfig(ctx context.Context, d *spec.Document, o Options) (*Result, error) {
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = k0spath.DataDir
	}
	dir := o.Upstream
	if dir == "" {
		dir = d.Spec.Upstream
	}
	// The system pods do not depend on the reservations.
	first, err := k0sconfig.Build(d, k0sconfig.ReservationsFromSpec(&d.Spec), k0sconfig.WithDataDir(dataDir))
	if err != nil {
		return nil, fmt.Errorf("k0s config: %w", err)
	}
	br, err := bundle.Stacks(ctx, d, bundle.Options{
		Source:          &upstream.Source{Dir: dir, Cache: o.Cache},
		SystemWorkloads: SystemWorkloads(first, d.Spec.K0s.Version),
	})
	if err != nil {
		return nil, err
	}
	cpu, mem, evict := br.Plan.Reservation()
	cfg, err := k0sconfig.Build(d, k0sconfig.Reservations{CPUMilli: cpu, MemoryBytes: mem, EvictionHardBytes: evict}, k0sconfig.WithDataDir(dataDir))
	if err != nil {
		return nil, fmt.Errorf("k0s config: %w", err)
	}
	return &Result{Spec: d, K0s: cfg, Bundle: br.Bundle, Plan: br.Plan, Changes: br.Changes,
		LBAddress: br.LBAddress, Domain: br.Domain, DataDir: dataDir}, nil
}

// SystemWorkloads turns k0s's system pods into plan workloads.
func SystemWorkloads(c *k0sconfig.Config, k0sVersion string) []plan.Workload {
	var out []plan.Workload
	for _, w := range c.SystemWorkloads() {
		r := plan.Resources{CPUMilli: w.Requests.CPUMilli, MemoryBytes: w.Requests.MemoryBytes}
		l := plan.Resources{CPUMilli: w.Limits.CPUMilli, MemoryBytes: w.Limits.MemoryBytes}
		out = append(out, plan.Workload{
			Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Container: w.Container, Init: w.Init,
			Source: "k0s " + k0sVersion, OriginalRequests: r, OriginalLimits: l,
		})
	}
	return out
}

// Payload is the node files rendering produces: k0s.yaml, the controller
// unit, the files the k0s config needs (CNI: the conflist, links to
// Debian's plugins and the package with them), the stacks and the
// promoter.
// The caller adds the k0s binary and the images.
func (r *Result) Payload() (*payload.Payload, error) {
	p, err := r.Bundle.Payload(bundle.Layout{DataDir: r.DataDir})
	if err != nil {
		return nil, err
	}
	y, err := r.K0s.YAML()
	if err != nil {
		return nil, err
	}
	p.Add(k0spath.Config, 0o600, y)
	p.Add(k0spath.UnitPath, 0o644, r.K0s.Unit(k0spath.Binary))
	p.Files = append(p.Files, r.K0s.ExtraFiles()...)
	p.Links = append(p.Links, r.K0s.CNILinks()...)
	p.Packages = append(p.Packages, r.K0s.OSPackages()...)
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return p, nil
}

// Units lists the systemd units to enable on the node.
func (r *Result) Units() []string {
	return append([]string{k0spath.UnitName}, r.Bundle.Units()...)
}
