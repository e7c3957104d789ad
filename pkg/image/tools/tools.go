package tools

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/edgeimg/edgeimg/internal/tailbuf"
	"github.com/edgeimg/edgeimg/pkg/cache"
)

// Suite is the Debian suite the tools come from: trixie has e2fsprogs
// 1.47.2 (tarball input, SOURCE_DATE_EPOCH) and qemu-img 10.
const Suite = "trixie"

// Packages are installed into the tools tree.
var Packages = []string{
	"e2fsprogs", "libarchive13t64", // mke2fs -d <tar> dlopens libarchive
	"fdisk", "qemu-utils", "zstd", "xz-utils", "dosfstools", "mtools",
}

// treeVersion changes when the way the tree is built changes.
const treeVersion = "tools-v1"

// Tree is an extracted tools tree.
type Tree struct {
	// Root is the tree's root directory.
	Root string
	// Key is the cache key of the tree.
	Key     string
	loader  string
	libPath string
}

// Spec says which tree to build.
type Spec struct {
	Mirror string
	// Arch is the host's Debian architecture; "" means the running one.
	Arch string
}

func (s Spec) arch() string {
	if s.Arch != "" {
		return s.Arch
	}
	return DebianArch(runtime.GOARCH)
}

// Key is the content key of the tree: suite, arch, packages, mirror.
func (s Spec) Key() string {
	pk := append([]string(nil), Packages...)
	sort.Strings(pk)
	h := sha256.Sum256([]byte(strings.Join([]string{treeVersion, Suite, s.arch(), s.Mirror, strings.Join(pk, ",")}, "\n")))
	return hex.EncodeToString(h[:])[:32]
}

// DebianArch maps a Go GOARCH to the Debian architecture name.
func DebianArch(goarch string) string {
	switch goarch {
	case "amd64", "arm64":
		return goarch
	case "arm":
		return "armhf"
	}
	return goarch
}

type loaderInfo struct{ loader, triplet string }

var loaders = map[string]loaderInfo{
	"amd64": {"usr/lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu"},
	"arm64": {"usr/lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu"},
}

// Ensure returns the tools tree for s, building it with mmdebstrap when it
// is not in the cache yet. built reports whether it was built now.
func Ensure(ctx context.Context, c *cache.Cache, s Spec, log io.Writer) (t *Tree, built bool, err error) {
	arch := s.arch()
	li, ok := loaders[arch]
	if !ok {
		return nil, false, fmt.Errorf("tools: build host architecture %s is not supported: expected amd64 or arm64", arch)
	}
	key := s.Key()
	dir, err := c.Dir("tools")
	if err != nil {
		return nil, false, err
	}
	root := filepath.Join(dir, key)
	if _, err := os.Stat(filepath.Join(root, ".complete")); err != nil {
		if err := build(ctx, s, arch, root, log); err != nil {
			return nil, false, err
		}
		built = true
	}
	t = &Tree{Root: root, Key: key, loader: filepath.Join(root, li.loader)}
	t.libPath = strings.Join([]string{
		filepath.Join(root, "usr/lib", li.triplet),
		filepath.Join(root, "lib", li.triplet),
		filepath.Join(root, "usr/lib"),
	}, ":")
	return t, built, nil
}

func build(ctx context.Context, s Spec, arch, root string, log io.Writer) error {
	mm, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return fmt.Errorf("tools: mmdebstrap not found: install it (apt-get install mmdebstrap)")
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".tools-*")
	if err != nil {
		return fmt.Errorf("tools: %w", err)
	}
	defer os.RemoveAll(tmp)
	tarPath := filepath.Join(tmp, "tree.tar")
	cmd := exec.CommandContext(ctx, mm,
		"--variant=essential", "--mode=root", "--arch="+arch,
		"--include="+strings.Join(Packages, ","),
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
		Suite, tarPath, s.Mirror)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1735689600")
	tail := tailbuf.New(4096)
	cmd.Stdout = io.MultiWriter(log, tail)
	cmd.Stderr = io.MultiWriter(log, tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tools: mmdebstrap %s %s from %s: %v\n%s", Suite, arch, s.Mirror, err, tail.String())
	}
	tree := filepath.Join(tmp, "root")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return err
	}
	x := exec.CommandContext(ctx, "tar", "-C", tree, "-xf", tarPath)
	if out, err := x.CombinedOutput(); err != nil {
		return fmt.Errorf("tools: extract tree: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(tree, ".complete"), nil, 0o644); err != nil {
		return err
	}
	os.RemoveAll(root)
	if err := os.Rename(tree, root); err != nil {
		return fmt.Errorf("tools: %w", err)
	}
	return nil
}

// binDirs are searched for a tool name, in order.
var binDirs = []string{"usr/sbin", "usr/bin", "sbin", "bin"}

// Path returns the tool's path inside the tree.
func (t *Tree) Path(name string) (string, error) {
	for _, d := range binDirs {
		p := filepath.Join(t.Root, d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("tools: %s is not in the tools tree %s", name, t.Root)
}

// Command returns a command running the tree's name with args through the
// tree's loader. The environment is the process's plus env.
func (t *Tree) Command(ctx context.Context, env []string, name string, args ...string) (*exec.Cmd, error) {
	p, err := t.Path(name)
	if err != nil {
		return nil, err
	}
	// --argv0 keeps tools that look at their own name (xz/unxz) working.
	full := append([]string{"--library-path", t.libPath, "--argv0", name, p}, args...)
	cmd := exec.CommandContext(ctx, t.loader, full...)
	cmd.Env = append(os.Environ(), env...)
	return cmd, nil
}

// Run runs a tool, sending its output to log; the error carries the last
// lines of the output.
func (t *Tree) Run(ctx context.Context, log io.Writer, env []string, name string, args ...string) error {
	cmd, err := t.Command(ctx, env, name, args...)
	if err != nil {
		return err
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))
	tail := tailbuf.New(4096)
	cmd.Stdout = io.MultiWriter(log, tail)
	cmd.Stderr = io.MultiWriter(log, tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(tail.String()))
	}
	return nil
}

// Output runs a tool and returns its standard output.
func (t *Tree) Output(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd, err := t.Command(ctx, env, name, args...)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Versions returns the installed version of every package of the tree,
// from its dpkg status file.
func (t *Tree) Versions() (map[string]string, error) {
	f, err := os.Open(filepath.Join(t.Root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	defer f.Close()
	pkgs, err := ParseDpkgStatus(f)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pkgs {
		out[p.Name] = p.Version
	}
	return out, nil
}

// Package is one installed Debian package.
type Package struct {
	Name    string `json:"name" yaml:"name"`
	Version string `json:"version" yaml:"version"`
	Arch    string `json:"arch" yaml:"arch"`
}

// ParseDpkgStatus reads a dpkg status file and returns the installed
// packages sorted by name.
func ParseDpkgStatus(r io.Reader) ([]Package, error) {
	var out []Package
	var cur Package
	var status string
	flush := func() {
		if cur.Name != "" && strings.HasSuffix(status, " installed") {
			out = append(out, cur)
		}
		cur, status = Package{}, ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Arch = v
		case "Status":
			status = v
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
