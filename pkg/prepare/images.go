package prepare

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	k0sairgap "github.com/k0sproject/k0s/pkg/airgap"
	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Namespace is the containerd namespace images are preloaded into (k0s's).
const Namespace = airgap.Namespace

// ImagesOptions says where the images of a node are found and how they
// are pulled: the cache, the target (its Platform is the platform pulled
// for) and the pull options of Options.
type ImagesOptions struct {
	Options
	// Manifests, when set, are YAML files or directories (searched
	// recursively for *.yaml and *.yml) read for the stacks instead of
	// rendering the spec; their system images are those of k0s's default
	// config.
	Manifests []string
	// NoSystemImages leaves out k0s's system images.
	NoSystemImages bool
}

// ImageSet is every image a node needs, found in its stacks, its k0s
// config and spec.images.extra, with the store they are pulled into.
type ImageSet struct {
	// Platform is the platform the images are pulled for.
	Platform string
	Refs     []airgap.Ref
	// Warnings are strings that looked like images but are not used as
	// such.
	Warnings []airgap.Warning

	opt    airgap.Options
	store  *airgap.Store
	pulled *airgap.Result
}

// FindImages finds every image the node described by d needs: in the
// spec's rendered stacks and k0s config, or in o.Manifests.
func FindImages(ctx context.Context, d *spec.Document, o ImagesOptions) (*ImageSet, error) {
	objs, system, err := nodeObjects(ctx, d, o)
	if err != nil {
		return nil, err
	}
	refs, warnings := airgap.Find(objs, d.Spec.Images.Extra, system)
	if o.Target.Platform == "" {
		return nil, fmt.Errorf("board %q has no known image platform: set spec.images.platform or --platform", d.Spec.Board)
	}
	opt := o.pullOptions(d.Spec.Images)
	return &ImageSet{Platform: opt.Platform, Refs: refs, Warnings: warnings, opt: opt, store: airgap.NewStore(o.Cache)}, nil
}

// ListedImage is one image of the set: its reference, the reference the
// node pulls (after spec.images.replace), the digest an earlier pull
// recorded, and where it was found.
type ListedImage struct {
	Ref       string            `json:"ref"`
	Node      string            `json:"node"`
	Digest    string            `json:"digest,omitempty"`
	Locations []airgap.Location `json:"locations"`
}

// ImageList is the images of a set as 'edgeimg images list' prints them.
type ImageList struct {
	Platform string           `json:"platform"`
	Images   []ListedImage    `json:"images"`
	Warnings []airgap.Warning `json:"warnings"`
}

// List lists the images without touching a registry.
func (s *ImageSet) List() ImageList {
	l := ImageList{Platform: s.Platform, Warnings: s.Warnings}
	if l.Warnings == nil {
		l.Warnings = []airgap.Warning{}
	}
	for _, r := range s.Refs {
		node := s.opt.Replace.Apply(r.Ref)
		e := ListedImage{Ref: r.Ref, Node: node, Locations: r.Locations}
		e.Digest, _ = s.store.KnownDigest(node)
		l.Images = append(l.Images, e)
	}
	return l
}

// Pull resolves every image to a digest and fetches it into the cache;
// Preload and WriteBundle write the images it pulled.
func (s *ImageSet) Pull(ctx context.Context) (*airgap.Result, error) {
	res, err := airgap.Pull(ctx, s.store, s.Refs, s.opt)
	if err != nil {
		return nil, err
	}
	s.pulled = res
	return res, nil
}

// PreloadOptions say where Preload writes the images.
type PreloadOptions struct {
	// Root is the containerd root to create (k0s: k0spath.Containerd).
	Root string
	// Force replaces a file, a symlink or a non-empty directory at Root.
	Force bool
}

// Check reports, before anything is pulled, whether Preload would refuse
// o.Root.
func (o PreloadOptions) Check() error { return fsutil.CheckDirOutput(o.Root, o.Force) }

// Preload writes the pulled images into a new containerd root.
func (s *ImageSet) Preload(ctx context.Context, o PreloadOptions) error {
	if s.pulled == nil {
		return errors.New("preload: nothing pulled yet")
	}
	return s.store.Preload(ctx, o.Root, s.pulled.Images, airgap.PreloadOptions{Force: o.Force})
}

// WriteBundle writes the pulled images as one uncompressed OCI-layout tar
// (for k0s's <data-dir>/images); force replaces an existing file.
func (s *ImageSet) WriteBundle(out string, force bool) error {
	if s.pulled == nil {
		return errors.New("bundle: nothing pulled yet")
	}
	return s.store.WriteBundleFile(out, s.pulled.Images, force)
}

// nodeObjects is the objects the node will run and k0s's system images:
// the spec's rendered stacks and k0s config, or the stack YAML of
// o.Manifests and the system images of k0s's default config.
func nodeObjects(ctx context.Context, d *spec.Document, o ImagesOptions) ([]bundle.Object, []string, error) {
	if len(o.Manifests) > 0 {
		objs, err := readManifests(o.Manifests)
		if err != nil {
			return nil, nil, err
		}
		var system []string
		if !o.NoSystemImages {
			system = k0sairgap.GetImageURIs(v1beta1.DefaultClusterSpec(), false)
		}
		return objs, system, nil
	}
	r, err := render.NodeConfig(ctx, d, render.Options{Cache: o.Cache, DataDir: o.DataDir})
	if err != nil {
		return nil, nil, err
	}
	var system []string
	if !o.NoSystemImages {
		system = r.K0s.SystemImages()
	}
	return r.Bundle.Objects(), system, nil
}

// readManifests reads YAML files, and the *.yaml/*.yml files below
// directories, into objects (bundle.ParseObjects); the stack is the file's
// directory relative to the directory given (its base name for files
// directly in it).
func readManifests(paths []string) ([]bundle.Object, error) {
	var out []bundle.Object
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--manifests: %w", err)
		}
		if !fi.IsDir() {
			objs, err := readManifestFile(p, filepath.Base(filepath.Dir(p)))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--manifests: %w", err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("--manifests %s: no *.yaml files", p)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(p, filepath.Dir(f))
			stack := filepath.ToSlash(rel)
			if stack == "." {
				stack = filepath.Base(filepath.Clean(p))
			}
			objs, err := readManifestFile(f, stack)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func readManifestFile(path, stack string) ([]bundle.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	us, err := bundle.ParseObjects(path, data)
	if err != nil {
		return nil, err
	}
	out := make([]bundle.Object, 0, len(us))
	for _, u := range us {
		out = append(out, bundle.Object{Stack: stack, File: filepath.Base(path), Obj: u})
	}
	return out, nil
}
