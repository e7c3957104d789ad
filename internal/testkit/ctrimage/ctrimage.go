package ctrimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is a one-layer test image made of host files: typically
// one static binary, or dynamically linked programs with their libraries
// (HostExecutableFiles).
type Image struct {
	// Ref names the image in the tar (e.g. k0s.PauseImage).
	Ref string
	// Binary, when set, is a host executable stored as /<base name>.
	Binary string
	// Files are further files and symlinks.
	Files []File
	// Entrypoint defaults to ["/<base name of Binary>"].
	Entrypoint []string
	// Env is the image config's environment.
	Env []string
	// User is the image config's user ("65532", "65532:65532"); empty
	// means root. Pods with runAsNonRoot need a numeric non-root user.
	User string
}

// File is a file of an Image: a copy of a host file, or a
// symlink.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Source is the host file whose content and permission bits it gets.
	Source string
	// Link makes it a symlink to Link instead.
	Link string
}

// WriteTar writes images as one docker-save tar (an uncompressed tar
// with gzip layers), as k0s imports from <data-dir>/images and `ctr images
// import` reads. The images are linux/<GOARCH>, OCI media types, with fixed
// timestamps. The tar appears complete or not at all.
func WriteTar(path string, images ...Image) error {
	refs := map[name.Reference]v1.Image{}
	for _, im := range images {
		ref, err := name.ParseReference(im.Ref)
		if err != nil {
			return fmt.Errorf("image %q: %w", im.Ref, err)
		}
		img, err := pack(im)
		if err != nil {
			return fmt.Errorf("image %s: %w", im.Ref, err)
		}
		refs[ref] = img
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Image packs the image as WriteTar does, for a registry push.
func (im Image) Image() (v1.Image, error) { return pack(im) }

func pack(im Image) (v1.Image, error) {
	files := im.Files
	entrypoint := im.Entrypoint
	if im.Binary != "" {
		base := filepath.Base(im.Binary)
		files = append([]File{{Path: "/" + base, Source: im.Binary}}, files...)
		if len(entrypoint) == 0 {
			entrypoint = []string{"/" + base}
		}
	}
	layerBytes, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0)}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = im.Env
	cf.Config.User = im.User
	return mutate.ConfigFile(img, cf)
}

// layerTar is an uncompressed layer with files (parent directories added,
// each path once, first wins), timestamps at the epoch.
func layerTar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	seen := map[string]bool{}
	var addDirs func(p string) error
	addDirs = func(p string) error {
		d := filepath.Dir(p)
		if d == "/" || seen[d] {
			return nil
		}
		if err := addDirs(d); err != nil {
			return err
		}
		seen[d] = true
		return tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir})
	}
	for _, f := range files {
		p := filepath.Clean(f.Path)
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("image file %q: want an absolute path", f.Path)
		}
		if seen[p] {
			continue
		}
		if err := addDirs(p); err != nil {
			return nil, err
		}
		seen[p] = true
		name := strings.TrimPrefix(p, "/")
		if f.Link != "" {
			if err := tw.WriteHeader(&tar.Header{Name: name, Linkname: f.Link, Mode: 0o777, ModTime: epoch, Typeflag: tar.TypeSymlink}); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, fmt.Errorf("image file %s: %w", p, err)
		}
		fi, err := os.Stat(f.Source)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// HostExecutableFiles returns the image files that run a dynamically linked
// host program: the program and every shared library and ELF interpreter
// ldd names, each copied to the path it has on the host.
func HostExecutableFiles(paths ...string) ([]File, error) {
	var files []File
	for _, p := range paths {
		files = append(files, File{Path: p, Source: p})
		out, err := exec.Command("ldd", p).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "not a dynamic executable") {
				continue
			}
			return nil, fmt.Errorf("ldd %s: %w: %s", p, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			var lib string
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				lib = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				lib = f[0]
			case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
				return nil, fmt.Errorf("ldd %s: %s not found", p, f[0])
			}
			if lib != "" {
				files = append(files, File{Path: lib, Source: lib})
			}
		}
	}
	return files, nil
}
