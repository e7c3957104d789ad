package prepare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/k0sbin"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Options configures the steps.
type Options struct {
	Cache *cache.Cache
	// Target is the node's board, image platform and architecture
	// (ResolveTarget).
	Target Target
	// DataDir is k0s's data dir on the node (default /var/lib/k0s).
	DataDir string
	// Insecure, Refresh and Jobs are passed to the image pull.
	Insecure []string
	Refresh  bool
	Jobs     int
	// Progress receives pull progress; nil is quiet.
	Progress io.Writer
	// BundleImages puts an image's images into <data-dir>/images as one
	// OCI bundle that k0s imports at every start (k0s's own airgap way,
	// and what deploy uploads), instead of containerd's preloaded store
	// (nothing imported at start). make bench-vm boots both.
	BundleImages bool
}

// pullOptions are the image pull options of the spec's images for the
// target's platform, with the options' registries, refresh, jobs and
// progress.
func (o Options) pullOptions(im spec.Images) airgap.Options {
	opt := airgap.OptionsFromSpec(im, o.Target.Platform)
	opt.Insecure = append(opt.Insecure, o.Insecure...)
	opt.Refresh, opt.Jobs, opt.Progress = o.Refresh, o.Jobs, o.Progress
	return opt
}

// PayloadBuilder builds what one node gets, its payload, filled step by
// step.
type PayloadBuilder struct {
	Spec *spec.Document
	opt  Options

	// Render is the k0s config, the fitted stacks and the plan.
	Render *render.Result
	// Images are every image the node needs, pulled for its platform.
	Images []airgap.Image
	// Warnings are strings that looked like images but are not used as
	// such; Moved are tags that point elsewhere than at the last pull.
	Warnings []airgap.Warning
	Moved    []airgap.Moved
	// K0sBinary is the local path of the k0s binary for the node.
	K0sBinary string
	// Fetched counts the bytes the pull downloaded.
	Fetched int64

	store *airgap.Store
}

// NewPayloadBuilder starts building the payload of the node described by
// d, for the node o.Target.
func NewPayloadBuilder(d *spec.Document, o Options) (*PayloadBuilder, error) {
	if o.Cache == nil {
		return nil, errors.New("prepare: no cache")
	}
	if o.Target.Platform == "" {
		return nil, fmt.Errorf("board %q: no image platform: set spec.images.platform", d.Spec.Board)
	}
	return &PayloadBuilder{Spec: d, opt: o, store: airgap.NewStore(o.Cache)}, nil
}

// SetProgress sends pull progress to w from now on.
func (n *PayloadBuilder) SetProgress(w io.Writer) { n.opt.Progress = w }

// Platform is the image platform the node's images are pulled for.
func (n *PayloadBuilder) Platform() string { return n.opt.Target.Platform }

// Store is the content-addressed image store the images were pulled into.
func (n *PayloadBuilder) Store() *airgap.Store { return n.store }

// Configure makes the node's k0s config, its stacks fitted to the node
// and their plan.
func (n *PayloadBuilder) Configure(ctx context.Context) error {
	r, err := render.NodeConfig(ctx, n.Spec, render.Options{Cache: n.opt.Cache, DataDir: n.opt.DataDir})
	if err != nil {
		return err
	}
	n.Render = r
	return nil
}

// ResolveBinary finds the k0s binary: spec.k0s.binary, or the catalog's
// pinned release for the node's architecture, downloaded and cached.
func (n *PayloadBuilder) ResolveBinary(ctx context.Context) error {
	bin, err := k0sbin.Resolve(ctx, n.opt.Cache, &n.Spec.Spec.K0s, n.opt.Target.Arch)
	if err != nil {
		return err
	}
	n.K0sBinary = bin
	return nil
}

// PullImages finds every image the rendered node uses, pulls it for the
// node's platform and pins every reference by digest, in the stacks and
// in k0s.yaml, so nothing on the node resolves a tag or pulls.
func (n *PayloadBuilder) PullImages(ctx context.Context) error {
	if n.Render == nil {
		return errors.New("pull images: nothing rendered yet")
	}
	objs := n.Render.Bundle.Objects()
	refs, warnings := airgap.Find(objs, n.Spec.Spec.Images.Extra, n.Render.K0s.SystemImages())
	res, err := airgap.Pull(ctx, n.store, refs, n.opt.pullOptions(n.Spec.Spec.Images))
	if err != nil {
		return err
	}
	if err := airgap.Pin(objs, res.Images); err != nil {
		return fmt.Errorf("pin images in the stacks: %w", err)
	}
	pinned := airgap.PinnedRefs(res.Images)
	err = n.Render.K0s.RewriteImages(func(ref string) (string, error) {
		if p, ok := pinned[ref]; ok {
			return p, nil
		}
		return ref, nil
	})
	if err != nil {
		return fmt.Errorf("pin k0s system images: %w", err)
	}
	n.Images, n.Warnings, n.Moved, n.Fetched = res.Images, warnings, res.Moved, res.FetchedBytes
	return nil
}

// Run does every step in order.
func (n *PayloadBuilder) Run(ctx context.Context) error {
	for _, step := range []func(context.Context) error{n.Configure, n.ResolveBinary, n.PullImages} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Payload is the node's files: k0s.yaml, the controller unit, the stacks,
// the promoter and site scripts, and the k0s binary. Images are added by
// the caller (PreloadedRoot or BundleFile), as only it knows which form
// the node takes.
func (n *PayloadBuilder) Payload() (*payload.Payload, error) {
	if n.Render == nil || n.K0sBinary == "" {
		return nil, errors.New("payload: render and resolve the k0s binary first")
	}
	p, err := n.Render.Payload()
	if err != nil {
		return nil, err
	}
	p.AddFile(k0spath.Binary, 0o755, n.K0sBinary)
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return p, nil
}

// ContainerdRoot is where k0s's containerd keeps its root on the node.
func (n *PayloadBuilder) ContainerdRoot() string { return k0spath.Containerd(n.Render.DataDir) }

// BundlePath is where k0s imports an image bundle from on the node.
func (n *PayloadBuilder) BundlePath() string {
	return path.Join(k0spath.Images(n.Render.DataDir), "edgeimg-bundle.tar")
}

// imageSetKey names an image set in the cache: its pinned references and
// platforms.
func (n *PayloadBuilder) imageSetKey() string {
	var keys []string
	for _, im := range n.Images {
		keys = append(keys, im.Pinned()+" "+im.PlatformString())
	}
	slices.Sort(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return hex.EncodeToString(sum[:16])
}

// PreloadedRoot returns a containerd root holding every image, with at as
// the recorded creation time (the build's SOURCE_DATE_EPOCH, so the bytes
// are reproducible), preloaded once per image set and time into the cache;
// the image step copies it into the disk image at ContainerdRoot.
func (n *PayloadBuilder) PreloadedRoot(ctx context.Context, at time.Time) (string, error) {
	dir, err := n.opt.Cache.Dir("image-stores")
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, fmt.Sprintf("%s-%d", n.imageSetKey(), at.Unix()))
	if fsutil.Exists(root) {
		return root, nil
	}
	if err := n.store.Preload(ctx, root, n.Images, airgap.PreloadOptions{Time: at}); err != nil {
		return "", err
	}
	return root, nil
}

// BundleFile returns the images as one OCI-layout tar k0s imports from
// <data-dir>/images, written once per image set into the cache.
func (n *PayloadBuilder) BundleFile() (string, error) {
	dir, err := n.opt.Cache.Dir("bundles")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, n.imageSetKey()+".tar")
	if fsutil.Exists(out) {
		return out, nil
	}
	if err := n.store.WriteBundleFile(out, n.Images, false); err != nil {
		return "", err
	}
	return out, nil
}
