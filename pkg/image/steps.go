package image

import (
	"fmt"
	"io"

	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/phase"
)

// A build is these steps, in this order, each a phase.Phase of its own
// (one file each) holding the typed results of the steps it reads and
// its own:
//
//	Check inputs            checked: the spec's digest, the seed of every derived identifier
//	(source phases) Payload nodePayload: the payload, units and images of a PayloadSource
//	Tools tree              toolsResult: the tools tree and its package versions
//	Debian base, or
//	Root file system base   base: the base tarball, its cache key and digest
//	Root file system        tree: the composed root tar, its kernel, the disk layout
//	Boot partition          bootPart: the FAT image
//	Root partition          rootPart: the ext4 image, the layout sized to it
//	Disk image              rawDisk: the raw image and its digest
//	Format <name>           outputs: the files written, with their digests
//	Lock file               edgeimg.lock and SHA256SUMS
//
// Without a PayloadSource the payload comes from Options and Check inputs
// checks it.

// workspace is where a build writes: set by Build before the steps run
// (empty under a dry run, which writes nothing).
type workspace struct {
	stage string // staging directory inside OutDir: the outputs
	work  string // intermediate files, inside stage
}

// outputs are the files the format steps wrote, in order.
type outputs []Output

// add records o, replacing an output of the same file (the block map that
// raw and img.zst both write).
func (outs *outputs) add(o Output) {
	for i := range *outs {
		if (*outs)[i].File == o.File {
			(*outs)[i] = o
			return
		}
	}
	*outs = append(*outs, o)
}

// phases wires the steps: each gets the results of the steps it reads.
func (b *Builder) phases(ws *workspace, res *Result) []phase.Phase {
	pl := &nodePayload{p: b.opts.Payload, units: b.opts.EnableUnits, images: b.opts.Images}
	check := &checkStep{b: b, payload: pl}
	ps := []phase.Phase{check}
	if b.opts.Source != nil {
		ps = append(ps, b.opts.Source.Phases()...)
		ps = append(ps, &payloadStep{src: b.opts.Source, out: pl})
	}
	tl := &toolsStep{b: b}
	ps = append(ps, tl)
	var bs *base
	if b.opts.Spec.Spec.OS.Rootfs != "" {
		s := &tarballStep{b: b, tools: &tl.out, ws: ws}
		ps, bs = append(ps, s), &s.out
	} else {
		s := &debianStep{b: b, payload: pl}
		ps, bs = append(ps, s), &s.out
	}
	tree := &treeStep{b: b, checked: &check.out, payload: pl, base: bs, ws: ws}
	boot := &bootStep{b: b, tools: &tl.out, tree: &tree.out, ws: ws}
	root := &rootStep{b: b, checked: &check.out, tools: &tl.out, tree: &tree.out, ws: ws}
	raw := &diskStep{b: b, boot: &boot.out, root: &root.out, ws: ws, res: res}
	ps = append(ps, tree, boot, root, raw)
	outs := &outputs{}
	known := format.Formats()
	for _, f := range b.formats {
		ps = append(ps, &formatStep{b: b, f: known[f], checked: &check.out, tools: &tl.out, disk: &raw.out, ws: ws, outputs: outs})
	}
	return append(ps, &lockStep{b: b, checked: &check.out, payload: pl, tools: &tl.out, base: bs,
		tree: &tree.out, disk: &raw.out, outputs: outs, ws: ws, res: res})
}

// dryLine writes one line of a dry run's plan.
func dryLine(w io.Writer, format string, a ...any) error {
	_, err := fmt.Fprintf(w, format+"\n", a...)
	return err
}
