package airgap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// resolve finds the target of a reference, the platform's manifest and
// config, fetching what the store lacks.
func (p *puller) resolve(ctx context.Context, found Ref) (Image, *Moved, error) {
	node := p.opt.Replace.Apply(found.Ref)
	r, err := parseRef(node)
	if err != nil {
		return Image{}, nil, err
	}
	src := p.source(r)
	im := Image{Ref: found, Name: r.name, Tag: r.effectiveTag(), Source: src}
	var target ocispec.Descriptor
	var moved *Moved
	var data []byte
	if r.digest != "" {
		target = ocispec.Descriptor{Digest: r.digest, Size: -1}
	} else {
		rec, ok, err := p.st.Resolved(r.name, im.Tag)
		if err != nil {
			return im, nil, err
		}
		if ok && !p.opt.Refresh && p.st.Has(rec.Digest) {
			target = rec
		} else {
			target, data, err = p.resolveTag(ctx, src, im.Tag)
			if err != nil {
				return im, nil, err
			}
			if ok && rec.Digest != target.Digest {
				moved = &Moved{Name: r.name, Tag: im.Tag, Was: rec.Digest, Now: target.Digest, Locations: found.Locations}
			}
		}
	}
	if data == nil {
		data, err = p.manifest(ctx, src, target)
		if err != nil {
			return im, nil, err
		}
	} else {
		p.manifestsFetched.Add(1)
		p.manifestBytes.Add(int64(len(data)))
	}
	doc, mt, err := parseManifest(data, target.MediaType)
	if err != nil {
		return im, nil, fmt.Errorf("%s: %w", target.Digest, err)
	}
	target.MediaType, target.Size = mt, int64(len(data))
	im.Target = ocispec.Descriptor{MediaType: mt, Digest: target.Digest, Size: target.Size}
	if err := p.selectManifest(ctx, &im, im.Target, doc, 0); err != nil {
		return im, nil, err
	}
	return im, moved, nil
}

// resolveTag asks the registry what a tag points to: a HEAD request, and
// a GET when the registry does not answer HEAD with a digest. The manifest
// is stored; data is returned when the GET fetched it.
func (p *puller) resolveTag(ctx context.Context, src, tag string) (ocispec.Descriptor, []byte, error) {
	rp, err := p.remote()
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	repo, err := p.repo(src)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	ref := repo.Tag(tag)
	var head *v1.Descriptor
	err = retry(ctx, p.opt.retries(), func() error {
		var e error
		head, e = rp.Head(ctx, ref)
		return e
	})
	if err == nil {
		return ocispec.Descriptor{MediaType: string(head.MediaType), Digest: digest.Digest(head.Digest.String()), Size: head.Size}, nil, nil
	}
	if isNotFound(err) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: not found: %w", ref, err)
	}
	desc, err := p.get(ctx, rp, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", ref, err)
	}
	d := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	if err := p.st.put(bytes.NewReader(desc.Manifest), d); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", ref, err)
	}
	return d, desc.Manifest, nil
}

// manifest returns an index or manifest blob by digest, from the store or
// the registry (then stored).
func (p *puller) manifest(ctx context.Context, src string, d ocispec.Descriptor) ([]byte, error) {
	if p.st.Has(d.Digest) {
		data, err := p.st.ReadBlob(d.Digest)
		if err == nil {
			p.manifestsCached.Add(1)
			return data, nil
		}
	}
	rp, err := p.remote()
	if err != nil {
		return nil, err
	}
	repo, err := p.repo(src)
	if err != nil {
		return nil, err
	}
	ref := repo.Digest(d.Digest.String())
	desc, err := p.get(ctx, rp, ref)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: not found: %w", ref, err)
		}
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if got := digest.FromBytes(desc.Manifest); got != d.Digest {
		return nil, fmt.Errorf("%s: digest mismatch: the registry sent content hashing to %s", ref, got)
	}
	if d.Size >= 0 && int64(len(desc.Manifest)) != d.Size {
		return nil, fmt.Errorf("%s: size mismatch: %d bytes, the descriptor says %d", ref, len(desc.Manifest), d.Size)
	}
	if err := p.st.put(bytes.NewReader(desc.Manifest), ocispec.Descriptor{Digest: d.Digest, Size: int64(len(desc.Manifest))}); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	p.manifestsFetched.Add(1)
	p.manifestBytes.Add(int64(len(desc.Manifest)))
	return desc.Manifest, nil
}

// config returns a config blob, from the store or the registry (then
// stored).
func (p *puller) config(ctx context.Context, src string, d ocispec.Descriptor) ([]byte, error) {
	if p.st.Has(d.Digest) {
		if data, err := p.st.ReadBlob(d.Digest); err == nil {
			p.manifestsCached.Add(1)
			return data, nil
		}
	}
	if err := p.fetchBlob(ctx, src, d, false); err != nil {
		return nil, err
	}
	p.manifestsFetched.Add(1)
	p.manifestBytes.Add(d.Size)
	return p.st.ReadBlob(d.Digest)
}

// selectManifest picks the platform's manifest below desc (desc itself
// when it is a manifest) and reads its config, as containerd does at run
// time: the best matching index entry, an entry without platform when its
// config matches.
func (p *puller) selectManifest(ctx context.Context, im *Image, desc ocispec.Descriptor, doc manifestDoc, depth int) error {
	if depth > 4 {
		return fmt.Errorf("%s: indexes nested too deep", im.Target.Digest)
	}
	want := platforms.Format(p.plat)
	if isIndex(desc.MediaType) {
		cands := candidates(doc, p.match)
		for _, c := range cands {
			data, err := p.manifest(ctx, im.Source, c)
			if err != nil {
				return err
			}
			cdoc, mt, err := parseManifest(data, c.MediaType)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Digest, err)
			}
			c.MediaType = mt
			err = p.selectManifest(ctx, im, c, cdoc, depth+1)
			if errors.Is(err, errPlatform) && c.Platform == nil {
				continue
			}
			return err
		}
		return fmt.Errorf("%w %s: the index %s has %s", errPlatform, want, desc.Digest, strings.Join(availablePlatforms(doc), ", "))
	}
	cfgData, err := p.config(ctx, im.Source, *doc.Config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", doc.Config.Digest, err)
	}
	have := platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	if desc.Platform == nil && !p.match.Match(platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture})) {
		return fmt.Errorf("%w %s: the image is %s", errPlatform, want, platforms.Format(have))
	}
	for _, l := range doc.Layers {
		if l.Digest.Validate() != nil || l.Size < 0 {
			return fmt.Errorf("manifest %s: invalid layer descriptor %s", desc.Digest, l.Digest)
		}
		if len(l.URLs) > 0 {
			return fmt.Errorf("manifest %s: layer %s is non-distributable (foreign URLs): not supported", desc.Digest, l.Digest)
		}
	}
	im.Manifest = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	im.Config = ocispec.Descriptor{MediaType: doc.Config.MediaType, Digest: doc.Config.Digest, Size: doc.Config.Size}
	im.Layers = make([]ocispec.Descriptor, len(doc.Layers))
	for i, l := range doc.Layers {
		im.Layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	}
	if desc.Platform != nil {
		im.Platform = platforms.Normalize(*desc.Platform)
	} else {
		im.Platform = have
	}
	return nil
}

var errPlatform = errors.New("no image for platform")
