package prepare

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/phase"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// ImageSource is the payload of a disk image rendered from the spec, as
// build phases (an image.PayloadSource): the rendered node files (k0s.yaml
// and its controller unit, the stacks, the staged stacks, their promoter
// and the site script), the k0s binary for the node's architecture, and
// every image pinned by digest and preloaded into containerd's root (k0s's
// <data-dir>/containerd), kept in the cache by image set.
type ImageSource struct {
	b      *PayloadBuilder
	epoch  int64
	p      *payload.Payload
	images []pinned.Image
	detail map[string]string
}

var _ image.PayloadSource = (*ImageSource)(nil)

// NewImageSource prepares the payload of an image of the node described by
// d; epoch is the build's SOURCE_DATE_EPOCH (image.ResolveEpoch), the
// creation time of the preloaded images.
func NewImageSource(d *spec.Document, epoch int64, o Options) (*ImageSource, error) {
	b, err := NewPayloadBuilder(d, o)
	if err != nil {
		return nil, err
	}
	return &ImageSource{b: b, epoch: epoch, detail: map[string]string{}}, nil
}

// Result is the payload, the units to enable and the images, once the
// phases ran.
func (s *ImageSource) Result() (*payload.Payload, []string, []pinned.Image) {
	if s.p == nil {
		return nil, nil, nil
	}
	return s.p, s.b.Render.Units(), s.images
}

// Phases are the steps of the payload: configure and fit the stacks, the
// k0s binary, the images.
func (s *ImageSource) Phases() []phase.Phase {
	return []phase.Phase{
		&sourcePhase{title: "Render stacks", s: s, run: s.configure},
		&sourcePhase{title: "k0s binary", s: s, run: s.k0s},
		&sourcePhase{title: "Images", s: s, run: s.pullImages},
	}
}

// configure fails when the stack does not fit the node.
func (s *ImageSource) configure(ctx context.Context) error {
	if err := s.b.Configure(ctx); err != nil {
		return err
	}
	r := s.b.Render
	s.detail["Render stacks"] = fmt.Sprintf("%s; domain %s", r.Plan.Verdict(), r.Domain)
	if !r.Plan.Fits {
		return fmt.Errorf("the stack does not fit the node (see 'edgeimg plan'): %s", r.Plan.Verdict())
	}
	return nil
}

func (s *ImageSource) k0s(ctx context.Context) error {
	if err := s.b.ResolveBinary(ctx); err != nil {
		return err
	}
	s.detail["k0s binary"] = s.b.Spec.Spec.K0s.Version + " " + s.b.Platform()
	return nil
}

func (s *ImageSource) pullImages(ctx context.Context) error {
	s.b.SetProgress(phase.Output(ctx))
	if err := s.b.PullImages(ctx); err != nil {
		return err
	}
	for _, w := range s.b.Warnings {
		fmt.Fprintf(phase.Output(ctx), "warning: %s\n", w)
	}
	p, err := s.b.Payload()
	if err != nil {
		return err
	}
	how := "preloaded"
	if s.b.opt.BundleImages {
		bundle, err := s.b.BundleFile()
		if err != nil {
			return err
		}
		p.AddFile(s.b.BundlePath(), 0o644, bundle)
		if err := p.Seal(); err != nil {
			return err
		}
		how = "bundled for import at start"
	} else {
		root, err := s.b.PreloadedRoot(ctx, time.Unix(s.epoch, 0))
		if err != nil {
			return err
		}
		p.AddDir(s.b.ContainerdRoot(), root)
	}
	var size int64
	for _, im := range s.b.Images {
		s.images = append(s.images, pinned.Image{Ref: im.Pinned(), Digest: im.Target.Digest.String()})
		size += im.Size()
	}
	s.p = p
	s.detail["Images"] = fmt.Sprintf("%d images for %s, %s, pinned and %s", len(s.b.Images), s.b.Platform(), humanize.Bytes(size), how)
	return nil
}

type sourcePhase struct {
	title string
	s     *ImageSource
	run   func(context.Context) error
}

func (p *sourcePhase) Title() string                 { return p.title }
func (p *sourcePhase) Run(ctx context.Context) error { return p.run(ctx) }
func (p *sourcePhase) Detail() string                { return p.s.detail[p.title] }
