package airgap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Result is what a pull resolved and fetched.
type Result struct {
	// Images are the resolved images, in the order of the references.
	Images []Image
	// Moved lists tags that resolve to another digest than an earlier pull
	// recorded (only with Options.Refresh).
	Moved []Moved
	// Fetched and Cached count the blobs downloaded and those already in
	// the store; FetchedBytes is the byte count downloaded.
	Fetched, Cached int
	FetchedBytes    int64
}

// Moved is a tag that moved between two pulls.
type Moved struct {
	Name, Tag string
	Was, Now  digest.Digest
	Locations []Location
}

func (m Moved) String() string {
	return fmt.Sprintf("%s:%s moved from %s to %s (found at %s)", m.Name, m.Tag, m.Was, m.Now, Ref{Locations: m.Locations}.where())
}

// Pull resolves every reference to a digest and fetches the target
// platform's manifest, config and layers (plus the index blob itself when
// the reference names an index) into the store. Blobs already in the store
// are not fetched again, and a tag an earlier pull resolved is not asked
// again unless Options.Refresh is set, so a warm pull needs no network.
//
// Every failing reference is reported with where it was found (a missing
// image, a digest mismatch, a platform the image lacks); the store only
// ever holds verified blobs, and a tag is recorded only once its whole
// image is in the store.
func Pull(ctx context.Context, st *Store, refs []Ref, opt Options) (*Result, error) {
	plat, err := opt.platform()
	if err != nil {
		return nil, err
	}
	p := &puller{st: st, opt: opt, plat: plat, match: platforms.Only(plat),
		prog: newProgress(opt.Progress)}
	defer p.prog.finish()

	// Resolve every reference to its manifests and config.
	images := make([]Image, len(refs))
	moved := make([]*Moved, len(refs))
	errs := make([]error, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.jobs())
	for i, r := range refs {
		g.Go(func() error {
			images[i], moved[i], errs[i] = p.resolve(gctx, r)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("image %s (found at %s): %w", r.Ref, r.where(), errs[i])
			}
			return nil
		})
	}
	g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := checkNames(images); err != nil {
		return nil, err
	}

	// Fetch the layers not in the store yet, each once.
	type want struct {
		desc  ocispec.Descriptor
		src   string
		users []int
	}
	wants := map[digest.Digest]*want{}
	var order []digest.Digest
	res := &Result{}
	for i, im := range images {
		for _, l := range im.Layers {
			if w, ok := wants[l.Digest]; ok {
				w.users = append(w.users, i)
				continue
			}
			if st.Has(l.Digest) {
				res.Cached++
				continue
			}
			wants[l.Digest] = &want{desc: l, src: im.Source, users: []int{i}}
			order = append(order, l.Digest)
		}
	}
	var total int64
	for _, d := range order {
		total += wants[d].desc.Size
	}
	p.prog.start(len(order), total)
	blobErrs := make([]error, len(order))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(opt.jobs())
	for i, d := range order {
		w := wants[d]
		g.Go(func() error {
			blobErrs[i] = p.fetchBlob(gctx, w.src, w.desc, true)
			return nil
		})
	}
	g.Wait()
	failed := map[int][]error{}
	for i, d := range order {
		if blobErrs[i] != nil {
			for _, u := range wants[d].users {
				failed[u] = append(failed[u], blobErrs[i])
			}
			continue
		}
		res.Fetched++
		res.FetchedBytes += wants[d].desc.Size
	}
	res.Fetched += int(p.manifestsFetched.Load())
	res.FetchedBytes += p.manifestBytes.Load()
	res.Cached += int(p.manifestsCached.Load())
	if len(failed) > 0 {
		var all []error
		for i, r := range refs {
			if e := failed[i]; e != nil {
				all = append(all, fmt.Errorf("image %s (found at %s): %w", r.Ref, r.where(), errors.Join(e...)))
			}
		}
		return nil, errors.Join(all...)
	}

	// Every blob is in: record the tags.
	now := time.Now()
	for i, im := range images {
		if im.Tag == "" || refDigest(im.Ref.Ref, opt.Replace) != "" {
			continue
		}
		if err := st.recordTag(im.Name, im.Tag, im.Target, now); err != nil {
			return nil, fmt.Errorf("image %s: record tag: %w", refs[i].Ref, err)
		}
		if moved[i] != nil {
			res.Moved = append(res.Moved, *moved[i])
		}
	}
	res.Images = images
	return res, nil
}

// refDigest is the digest a reference names itself, if any.
func refDigest(ref string, rw Rewrites) digest.Digest {
	r, err := parseRef(rw.Apply(ref))
	if err != nil {
		return ""
	}
	return r.digest
}

// checkNames refuses two images claiming one node name with different
// digests (name:tag written with two different pins).
func checkNames(images []Image) error {
	owner := map[string]int{}
	var errs []error
	for i, im := range images {
		for _, n := range im.Names() {
			j, ok := owner[n]
			if !ok {
				owner[n] = i
				continue
			}
			if images[j].Target.Digest != im.Target.Digest {
				errs = append(errs, fmt.Errorf("%s names two images: %s (found at %s) and %s (found at %s)",
					n, images[j].Target.Digest, images[j].Ref.where(), im.Target.Digest, im.Ref.where()))
			}
		}
	}
	return errors.Join(errs...)
}
