package airgap

import (
	"context"
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
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

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
