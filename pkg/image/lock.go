package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// Lock is edgeimg.lock: everything that went into the image, pinned.
type Lock struct {
	APIVersion      string         `yaml:"apiVersion"`
	Kind            string         `yaml:"kind"`
	Image           LockImage      `yaml:"image"`
	SourceDateEpoch int64          `yaml:"sourceDateEpoch"`
	Base            LockBase       `yaml:"base"`
	Tools           LockTools      `yaml:"tools"`
	Payload         LockPayload    `yaml:"payload"`
	Images          []pinned.Image `yaml:"images,omitempty"`
	Outputs         []Output       `yaml:"outputs"`
}

// LockImage names the image.
type LockImage struct {
	Name       string `yaml:"name"`
	Board      string `yaml:"board"`
	Arch       string `yaml:"arch"`
	Kernel     string `yaml:"kernel"`
	SpecSHA256 string `yaml:"specSHA256"`
	RawSHA256  string `yaml:"rawSHA256"`
	RootUUID   string `yaml:"rootPARTUUID"`
}

// LockBase is the root file system base and every package in it.
type LockBase struct {
	Source   string          `yaml:"source"` // mmdebstrap or spec.os.rootfs
	Suite    string          `yaml:"suite,omitempty"`
	Mirror   string          `yaml:"mirror,omitempty"`
	CacheKey string          `yaml:"cacheKey"`
	SHA256   string          `yaml:"sha256"`
	Packages []tools.Package `yaml:"packages"`
}

// LockTools records the tools that made the image bytes.
type LockTools struct {
	Suite    string            `yaml:"suite"`
	Mirror   string            `yaml:"mirror"`
	CacheKey string            `yaml:"cacheKey"`
	Versions map[string]string `yaml:"versions"`
}

// LockPayload lists the payload files and trees.
type LockPayload struct {
	Files []LockFile `yaml:"files,omitempty"`
	Dirs  []LockDir  `yaml:"dirs,omitempty"`
}

// LockFile is one payload file.
type LockFile struct {
	Path   string `yaml:"path"`
	Mode   string `yaml:"mode"`
	Size   int64  `yaml:"size"`
	SHA256 string `yaml:"sha256"`
}

// LockDir is one payload tree: its entry count, bytes and a digest over
// every path, mode, owner, size and content.
type LockDir struct {
	Path    string `yaml:"path"`
	Entries int    `yaml:"entries"`
	Bytes   int64  `yaml:"bytes"`
	SHA256  string `yaml:"sha256"`
}

// ReadLock parses an edgeimg.lock.
func ReadLock(p string) (*Lock, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var l Lock
	if err := yaml.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &l, nil
}

// lockedTools are the tools whose versions decide image bytes.
var lockedTools = []string{"e2fsprogs", "libarchive13t64", "dosfstools", "mtools", "qemu-utils", "zstd", "xz-utils", "fdisk"}

// lockStep is "Lock file": edgeimg.lock (what went into the image) and
// SHA256SUMS (of the outputs) in the staging directory.
type lockStep struct {
	b       *Builder
	checked *checked
	payload *nodePayload
	tools   *toolsResult
	base    *base
	tree    *tree
	disk    *rawDisk
	outputs *outputs
	ws      *workspace
	res     *Result
}

func (s *lockStep) Title() string { return "Lock file" }

func (s *lockStep) DryRun(_ context.Context, w io.Writer) error {
	return dryLine(w, "%s (debs, tools, payload sha256, image digests, outputs) and %s", LockName, SumsName)
}

func (s *lockStep) Run(context.Context) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	data, err := yaml.Marshal(l)
	if err != nil {
		return err
	}
	header := "# edgeimg.lock: what went into " + s.b.name + " (debs, tools, payload, images, outputs).\n"
	if err := fsutil.WriteFile(filepath.Join(s.ws.stage, LockName), append([]byte(header), data...), 0o644); err != nil {
		return err
	}
	s.res.Lock = l
	s.res.Outputs = *s.outputs
	var sums strings.Builder
	for _, o := range *s.outputs {
		fmt.Fprintf(&sums, "%s  %s\n", o.SHA256, o.File)
	}
	return fsutil.WriteFile(filepath.Join(s.ws.stage, SumsName), []byte(sums.String()), 0o644)
}

// lock is the Lock of the steps' results.
func (s *lockStep) lock() (*Lock, error) {
	b := s.b
	lay := s.tree.layout
	l := &Lock{
		APIVersion: "edgeimg.io/v1alpha1", Kind: "Lock",
		Image: LockImage{Name: b.opts.Spec.Metadata.Name, Board: b.board.Name, Arch: b.board.Arch, Kernel: s.tree.kernel,
			SpecSHA256: s.checked.specSHA, RawSHA256: s.disk.sha, RootUUID: lay.PARTUUID(&lay.Root)},
		SourceDateEpoch: b.epoch,
		Images:          s.payload.images,
		Outputs:         *s.outputs,
	}
	if rootfs := b.opts.Spec.Spec.OS.Rootfs; rootfs != "" {
		l.Base = LockBase{Source: "spec.os.rootfs " + rootfs, CacheKey: s.base.key, SHA256: s.base.sha}
	} else {
		l.Base = LockBase{Source: "mmdebstrap", Suite: s.base.debian.Suite, Mirror: s.base.debian.Mirror, CacheKey: s.base.key, SHA256: s.base.sha}
	}
	if status, ok := s.tree.index.Files["/var/lib/dpkg/status"]; ok {
		pk, err := tools.ParseDpkgStatus(bytes.NewReader(status))
		if err != nil {
			return nil, err
		}
		l.Base.Packages = pk
	}
	l.Tools = LockTools{Suite: tools.Suite, Mirror: b.toolsMirror(), CacheKey: s.tools.tree.Key, Versions: map[string]string{}}
	for _, name := range lockedTools {
		l.Tools.Versions[name] = s.tools.versions[name]
	}
	if p := s.payload.p; p != nil {
		for _, f := range p.Files {
			l.Payload.Files = append(l.Payload.Files, LockFile{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode.Perm()), Size: f.Size, SHA256: f.SHA256})
		}
		var nodes []string
		for n := range p.Dirs {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			d, err := TreeDigest(p.Dirs[n])
			if err != nil {
				return nil, err
			}
			d.Path = n
			l.Payload.Dirs = append(l.Payload.Dirs, d)
		}
	}
	return l, nil
}

// TreeDigest hashes a directory tree: every entry's relative path, type,
// mode, owner, size, link target and content, in path order.
func TreeDigest(root string) (LockDir, error) {
	var d LockDir
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var uid, gid uint32
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = st.Uid, st.Gid
		}
		d.Entries++
		fmt.Fprintf(h, "%s\x00%s\x00%d:%d\x00", rel, fi.Mode(), uid, gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "->%s\x00", t)
		case fi.Mode().IsRegular():
			d.Bytes += fi.Size()
			fmt.Fprintf(h, "%d\x00", fi.Size())
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("digest %s: %w", root, err)
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}
