package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/internal/tailbuf"
	"github.com/edgeimg/edgeimg/pkg/cache"
	"github.com/edgeimg/edgeimg/pkg/image/tools"
)

// CorePackages is what every image gets on top of minbase: what k0s needs
// to run a single-node controller+worker (systemd, udev, kmod, iptables
// with nft, util-linux, iproute2, e2fsprogs, ca-certificates,
// networkd/resolved/timesyncd) and what the first-boot units use (fdisk's
// sfdisk, dbus for hostnamed).
var CorePackages = []string{
	"systemd", "systemd-sysv", "udev", "kmod", "dbus",
	"iproute2", "iptables", "nftables", "util-linux", "mount", "fdisk",
	"e2fsprogs", "ca-certificates",
	"systemd-resolved", "systemd-timesyncd",
}

// baseVersion changes when the way bases are built changes.
const baseVersion = "base-v1"

// Spec says which base to build.
type Spec struct {
	Suite      string
	Arch       string
	Mirror     string
	Components []string
	// Packages are installed on top of minbase (sorted and de-duplicated
	// by Normalize).
	Packages []string
	// SourceDateEpoch is the time every file and the package database are
	// stamped with.
	SourceDateEpoch int64
}

// Normalize sorts and de-duplicates packages and components.
func (s *Spec) Normalize() {
	s.Packages = sortedUnique(s.Packages)
	s.Components = sortedUnique(s.Components)
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return slices.Compact(out)
}

// Key is the content key of the base.
func (s Spec) Key() string {
	h := sha256.Sum256([]byte(strings.Join([]string{
		baseVersion, s.Suite, s.Arch, s.Mirror,
		strings.Join(s.Components, ","), strings.Join(s.Packages, ","),
		strconv.FormatInt(s.SourceDateEpoch, 10),
	}, "\n")))
	return hex.EncodeToString(h[:])[:32]
}

// Trimmed is what dpkg never unpacks into a base: documentation (except
// copyright files), man and info pages, translations.
var Trimmed = []string{
	"--dpkgopt=path-exclude=/usr/share/man/*",
	"--dpkgopt=path-exclude=/usr/share/info/*",
	"--dpkgopt=path-exclude=/usr/share/locale/*",
	"--dpkgopt=path-include=/usr/share/locale/locale.alias",
	"--dpkgopt=path-exclude=/usr/share/doc/*",
	"--dpkgopt=path-include=/usr/share/doc/*/copyright",
	"--dpkgopt=path-exclude=/usr/share/lintian/*",
}

// Base is a built base tarball.
type Base struct {
	Path   string
	Key    string
	Cached bool
}

// The bases live in the cache as debian/<key>/rootfs.tar.
const (
	cacheDir = "debian"
	tarName  = "rootfs.tar"
)

// TarPath is where the base with the cache key key is kept in c, whether
// or not it was built.
func TarPath(c *cache.Cache, key string) string {
	return filepath.Join(c.Root, cacheDir, key, tarName)
}

// Cached reports whether the base for s is in c (Ensure would not run
// mmdebstrap).
func Cached(c *cache.Cache, s Spec) bool {
	s.Normalize()
	_, err := os.Stat(TarPath(c, s.Key()))
	return err == nil
}

// Ensure returns the cached base for s, building it when missing.
func Ensure(ctx context.Context, c *cache.Cache, s Spec, log io.Writer) (*Base, error) {
	s.Normalize()
	key := s.Key()
	dir, err := c.Dir(cacheDir, key)
	if err != nil {
		return nil, err
	}
	tarPath := filepath.Join(dir, tarName)
	if _, err := os.Stat(tarPath); err == nil {
		return &Base{Path: tarPath, Key: key, Cached: true}, nil
	}
	if err := Preflight(ctx, s); err != nil {
		return nil, err
	}
	debs, err := c.Dir("debs", s.Suite, s.Arch)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".rootfs-tmp-%d.tar", os.Getpid())) // mmdebstrap picks the format by extension
	defer os.Remove(tmp)
	args := []string{
		"--variant=minbase",
		"--arch=" + s.Arch,
		"--components=" + strings.Join(s.Components, ","),
		"--include=" + strings.Join(s.Packages, ","),
		"--aptopt=Acquire::Retries \"3\"",
		"--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
		"--setup-hook=sync-in " + debs + " /var/cache/apt/archives/",
		"--customize-hook=sync-out /var/cache/apt/archives " + debs,
		// The host's resolv.conf and hostname must not end up in the image.
		"--customize-hook=rm -f \"$1\"/etc/hostname",
	}
	args = append(args, Trimmed...)
	args = append(args, s.Suite, tmp, s.Mirror)
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(s.SourceDateEpoch, 10))
	tail := tailbuf.New(16384)
	cmd.Stdout = io.MultiWriter(log, tail)
	cmd.Stderr = io.MultiWriter(log, tail)
	fmt.Fprintf(log, "$ mmdebstrap %s\n", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mmdebstrap %s/%s from %s: %v\n%s", s.Suite, s.Arch, s.Mirror, err, "  "+strings.Join(tail.Lines(15), "\n  "))
	}
	if err := os.Rename(tmp, tarPath); err != nil {
		return nil, fmt.Errorf("debian base: %w", err)
	}
	return &Base{Path: tarPath, Key: key}, nil
}

// Preflight checks what a build needs before running mmdebstrap:
// mmdebstrap itself, binfmt emulation for a foreign architecture and a
// reachable mirror that has the suite.
func Preflight(ctx context.Context, s Spec) error {
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return errors.New("mmdebstrap not found: install it (apt-get install mmdebstrap)")
	}
	if err := CheckForeignArch(s.Arch); err != nil {
		return err
	}
	return CheckMirror(ctx, s.Mirror, s.Suite)
}

// binfmt describes the qemu-user registration a foreign architecture needs.
type binfmt struct {
	name   string // binfmt_misc entry name
	qemu   string // interpreter binary name
	goarch string
}

var binfmts = map[string]binfmt{
	"arm64": {"qemu-aarch64", "qemu-aarch64-static", "arm64"},
	"amd64": {"qemu-x86_64", "qemu-x86_64-static", "amd64"},
}

// BinfmtDir is where the kernel's binfmt_misc is mounted.
const BinfmtDir = "/proc/sys/fs/binfmt_misc"

// CheckForeignArch returns nil when arch is the host's or qemu-user
// emulation for it is registered in binfmt_misc; otherwise an error that
// says exactly what to install and register.
func CheckForeignArch(arch string) error {
	return checkForeignArch(arch, runtime.GOARCH, BinfmtDir)
}

func checkForeignArch(arch, hostGoarch, dir string) error {
	if tools.DebianArch(hostGoarch) == arch {
		return nil
	}
	bf, ok := binfmts[arch]
	if !ok {
		return fmt.Errorf("architecture %s: no emulation known for building it on %s", arch, hostGoarch)
	}
	howto := fmt.Sprintf(`building an %s image on this %s host needs %s registered in binfmt_misc with the F (fix binary) flag:
    apt-get install qemu-user-static
    mount -t binfmt_misc binfmt_misc %s   # if %s/register is missing
    cat /usr/lib/binfmt.d/%s.conf > %s/register`,
		arch, tools.DebianArch(hostGoarch), bf.qemu, dir, dir, bf.name, dir)
	if _, err := os.Stat(filepath.Join(dir, "register")); err != nil {
		return fmt.Errorf("binfmt_misc is not mounted at %s: %s", dir, howto)
	}
	data, err := os.ReadFile(filepath.Join(dir, bf.name))
	if err != nil {
		return fmt.Errorf("%s is not registered in binfmt_misc: %s", bf.name, howto)
	}
	text := string(data)
	if !strings.HasPrefix(text, "enabled") {
		return fmt.Errorf("%s is registered in binfmt_misc but disabled: enable it with 'echo 1 > %s/%s'", bf.name, dir, bf.name)
	}
	var interp, flags string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "interpreter "); ok {
			interp = v
		}
		if v, ok := strings.CutPrefix(line, "flags: "); ok {
			flags = v
		}
	}
	if !strings.Contains(flags, "F") {
		if _, err := os.Stat(interp); err != nil {
			return fmt.Errorf("%s is registered with interpreter %s, which does not exist: %s", bf.name, interp, howto)
		}
		return fmt.Errorf("%s is registered without the F flag, so it does not work inside the build chroot: %s", bf.name, howto)
	}
	return nil
}

// CheckMirror fetches <mirror>/dists/<suite>/InRelease (or Release) and
// returns an error naming the mirror when it cannot be read.
func CheckMirror(ctx context.Context, mirror, suite string) error {
	u, err := url.Parse(mirror)
	if err != nil {
		return fmt.Errorf("spec.os.mirror %q: %w", mirror, err)
	}
	if u.Scheme == "file" {
		for _, f := range []string{"InRelease", "Release"} {
			if _, err := os.Stat(filepath.Join(u.Path, "dists", suite, f)); err == nil {
				return nil
			}
		}
		return fmt.Errorf("spec.os.mirror %s: no dists/%s/InRelease or Release in %s: expected a Debian mirror with suite %s", mirror, suite, u.Path, suite)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for _, f := range []string{"InRelease", "Release"} {
		target := strings.TrimSuffix(mirror, "/") + "/dists/" + suite + "/" + f
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, target, nil)
		if err != nil {
			return fmt.Errorf("spec.os.mirror %q: %w", mirror, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("%s: %s", target, resp.Status)
	}
	return fmt.Errorf("spec.os.mirror %s is unreachable or has no suite %s: %v (set spec.os.mirror to a reachable Debian mirror, or a local one for airgapped build hosts)", mirror, suite, last)
}
