package airgap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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

type puller struct {
	st    *Store
	opt   Options
	plat  ocispec.Platform
	match platforms.MatchComparer
	prog  *progress

	once      sync.Once
	rp        *remote.Puller
	rpErr     error
	clientsMu sync.Mutex
	clients   map[string]*lazyClient

	manifestsFetched, manifestsCached, manifestBytes atomic.Int64
}

func (p *puller) remote() (*remote.Puller, error) {
	p.once.Do(func() {
		kc := p.opt.Keychain
		if kc == nil {
			kc = authn.DefaultKeychain
		}
		opts := []remote.Option{
			remote.WithAuthFromKeychain(kc),
			remote.WithUserAgent("edgeimg"),
			remote.WithJobs(p.opt.jobs()),
		}
		if p.opt.Transport != nil {
			opts = append(opts, remote.WithTransport(p.opt.Transport))
		}
		p.rp, p.rpErr = remote.NewPuller(opts...)
	})
	return p.rp, p.rpErr
}

// source is the repository the blobs of r are pulled from: its mirror
// when one is set for its registry, else r's own repository.
func (p *puller) source(r imageRef) string {
	if m, ok := p.opt.mirrorFor(r.host()); ok {
		return m + "/" + r.path()
	}
	return r.name
}

func (p *puller) repo(src string) (name.Repository, error) {
	host, _, _ := strings.Cut(src, "/")
	var opts []name.Option
	if p.opt.insecure(host) {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(src, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %s: %w", src, err)
	}
	return repo, nil
}

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

// get fetches a manifest or index, retrying transient failures.
func (p *puller) get(ctx context.Context, rp *remote.Puller, ref name.Reference) (*remote.Descriptor, error) {
	var desc *remote.Descriptor
	err := retry(ctx, p.opt.retries(), func() error {
		var e error
		desc, e = rp.Get(ctx, ref)
		return e
	})
	return desc, err
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

// fetchBlob downloads one blob into the store, retrying failed attempts.
// The body goes straight into the store, which hashes it once on the way
// in (the registry client's own reader would hash it a second time).
func (p *puller) fetchBlob(ctx context.Context, src string, desc ocispec.Descriptor, counted bool) error {
	repo, err := p.repo(src)
	if err != nil {
		return err
	}
	ref := repo.Digest(desc.Digest.String())
	err = retry(ctx, p.opt.retries(), func() error {
		client, err := p.blobClient(ctx, repo)
		if err != nil {
			return err
		}
		u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), desc.Digest)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return err
		}
		var cr *countingReader
		if counted {
			cr = p.prog.reader(resp.Body)
		} else {
			cr = (&progress{}).reader(resp.Body)
		}
		if err := p.st.put(cr, desc); err != nil {
			cr.undo()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blob %s: %w", ref, err)
	}
	if counted {
		p.prog.blobDone(desc)
	}
	return nil
}

// blobClient is an HTTP client authenticated for pulls from a repository
// (token exchange included), one per repository.
func (p *puller) blobClient(ctx context.Context, repo name.Repository) (*http.Client, error) {
	p.clientsMu.Lock()
	if p.clients == nil {
		p.clients = map[string]*lazyClient{}
	}
	lc, ok := p.clients[repo.String()]
	if !ok {
		lc = &lazyClient{}
		p.clients[repo.String()] = lc
	}
	p.clientsMu.Unlock()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.c != nil {
		return lc.c, nil
	}
	kc := p.opt.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	base := p.opt.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, transport.NewUserAgent(base, "edgeimg"),
		[]string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	lc.c = &http.Client{Transport: rt}
	return lc.c, nil
}

// lazyClient is a blob client made on first use (making it may ask the
// registry for a token); failures are not kept, so a retry makes it again.
type lazyClient struct {
	mu sync.Mutex
	c  *http.Client
}

// retry runs f up to n times with a growing pause, stopping early on a
// context end or an answer that will not change (not found, denied).
func retry(ctx context.Context, n int, f func() error) error {
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(i*i) * 200 * time.Millisecond):
			}
		}
		if err = f(); err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest:
			return false
		}
	}
	return !errors.Is(err, context.Canceled)
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
