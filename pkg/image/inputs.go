package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/edgeimg/edgeimg/internal/humanize"
	"github.com/edgeimg/edgeimg/pkg/airgap/pinned"
	"github.com/edgeimg/edgeimg/pkg/image/debian"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// checked is what Check inputs settles.
type checked struct {
	// specSHA is the digest of the spec's canonical form.
	specSHA string
	// seed derives every identifier of the image (disk GUID, partition
	// and file system UUIDs, the OVA's UUIDs): the spec and the board.
	seed string
}

// checkStep is "Check inputs": the spec's digest, what the spec asks for
// that the build cannot do, the payload from Options, and the base's
// prerequisites (spec.os.rootfs exists, or mmdebstrap can run when the
// Debian base is not cached).
type checkStep struct {
	b       *Builder
	payload *nodePayload
	out     checked
}

func (s *checkStep) Title() string { return "Check inputs" }

func (s *checkStep) DryRun(ctx context.Context, w io.Writer) error {
	b := s.b
	fmt.Fprintf(w, "board %s (%s, %s), formats %s, SOURCE_DATE_EPOCH %d\n", b.board.Name, b.board.Arch, b.board.Description, strings.Join(b.formats, ", "), b.epoch)
	return s.Run(ctx)
}

func (s *checkStep) Run(ctx context.Context) error {
	b := s.b
	spec := &b.opts.Spec.Spec
	sha, err := SpecSHA256(b.opts.Spec)
	if err != nil {
		return err
	}
	s.out = checked{specSHA: sha, seed: sha + "/" + b.board.Name}
	if spec.OS.Kernel != "" {
		return fmt.Errorf("spec.os.kernel %q: a kernel other than Debian's is not supported yet (board %s uses Debian's kernel)", spec.OS.Kernel, b.board.Name)
	}
	if b.opts.Source == nil {
		if err := s.payload.check(); err != nil {
			return err
		}
	}
	if spec.OS.Rootfs != "" {
		if _, err := os.Stat(spec.OS.Rootfs); err != nil {
			return fmt.Errorf("spec.os.rootfs: %w", err)
		}
		return nil
	}
	bs := b.baseSpec()
	if debian.Cached(b.cache, bs) {
		return nil // cached: no mmdebstrap, no emulation needed
	}
	return debian.Preflight(ctx, bs)
}

// nodePayload is what goes into the root file system for the node: from
// Options, or from the PayloadSource's phases by the Payload step.
type nodePayload struct {
	p      *payload.Payload
	units  []string // units the caller enables
	images []pinned.Image
}

// check seals the payload and requires its trees to be directories.
func (n *nodePayload) check() error {
	p := n.p
	if p == nil {
		return nil
	}
	if err := p.Seal(); err != nil {
		return err
	}
	for node, src := range p.Dirs {
		fi, err := os.Stat(src)
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("payload directory %s: %s is not a directory", node, src)
		}
	}
	return nil
}

func (n *nodePayload) files() int {
	if n.p == nil {
		return 0
	}
	return len(n.p.Files)
}

func (n *nodePayload) dirs() int {
	if n.p == nil {
		return 0
	}
	return len(n.p.Dirs)
}

// unitsToEnable is edgeimg's own units plus the caller's.
func (n *nodePayload) unitsToEnable(sshEnabled bool) []string {
	units := []string{"edgeimg-growroot.service", "edgeimg-device.service", "systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service", "systemd-timesyncd.service"}
	if sshEnabled {
		units = append(units, "edgeimg-ssh-hostkeys.service", "ssh.service")
	}
	for _, u := range n.units {
		if !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	return units
}

// payloadStep is "Payload": it reads what the PayloadSource's phases
// produced and checks it.
type payloadStep struct {
	src    PayloadSource
	out    *nodePayload
	detail string
}

func (s *payloadStep) Title() string  { return "Payload" }
func (s *payloadStep) Detail() string { return s.detail }

func (s *payloadStep) Run(context.Context) error {
	n := s.out
	n.p, n.units, n.images = s.src.Result()
	if n.p == nil {
		return fmt.Errorf("the payload source produced no payload")
	}
	if err := n.check(); err != nil {
		return err
	}
	var bytes int64
	for _, f := range n.p.Files {
		bytes += f.Size
	}
	s.detail = fmt.Sprintf("%d files (%s), %d trees, %d images", len(n.p.Files), humanize.Bytes(bytes), len(n.p.Dirs), len(n.images))
	return nil
}
