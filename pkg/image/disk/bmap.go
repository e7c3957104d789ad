package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// BmapBlockSize is the block size of the block maps written.
const BmapBlockSize = 4096

// Range is a run of mapped (stored) blocks, inclusive.
type Range struct{ First, Last int64 }

// MappedRanges returns the runs of blocks of a file that hold data (not
// holes), in BmapBlockSize units.
func MappedRanges(p string) ([]Range, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var out []Range
	pos := int64(0)
	for pos < size {
		data, err := unix.Seek(int(f.Fd()), pos, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break
			}
			return nil, 0, fmt.Errorf("bmap %s: %w", p, err)
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return nil, 0, fmt.Errorf("bmap %s: %w", p, err)
		}
		first := data / BmapBlockSize
		last := (hole - 1) / BmapBlockSize
		if n := len(out); n > 0 && out[n-1].Last+1 >= first {
			out[n-1].Last = max(out[n-1].Last, last)
		} else {
			out = append(out, Range{first, last})
		}
		pos = hole
	}
	return out, size, nil
}

// WriteBmap writes a block map (bmaptool format 2.0) of the raw image at
// imgPath: image size, mapped block ranges with the sha256 of each, and
// the checksum of the map itself, so 'bmaptool copy' writes only the
// blocks that hold data and verifies them.
func WriteBmap(imgPath string, w io.Writer) error {
	ranges, size, err := MappedRanges(imgPath)
	if err != nil {
		return err
	}
	f, err := os.Open(imgPath)
	if err != nil {
		return err
	}
	defer f.Close()
	blocks := (size + BmapBlockSize - 1) / BmapBlockSize
	var mapped int64
	var body strings.Builder
	buf := make([]byte, 1<<20)
	for _, r := range ranges {
		mapped += r.Last - r.First + 1
		h := sha256.New()
		start, end := r.First*BmapBlockSize, min((r.Last+1)*BmapBlockSize, size)
		for off := start; off < end; {
			n := min(int64(len(buf)), end-off)
			if _, err := f.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("bmap %s: %w", imgPath, err)
			}
			h.Write(buf[:n])
			off += n
		}
		span := fmt.Sprintf("%d-%d", r.First, r.Last)
		if r.First == r.Last {
			span = fmt.Sprint(r.First)
		}
		fmt.Fprintf(&body, "        <Range chksum=\"%s\"> %s </Range>\n", hex.EncodeToString(h.Sum(nil)), span)
	}
	zero := strings.Repeat("0", 64)
	doc := func(sum string) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "<?xml version=\"1.0\" ?>\n")
		fmt.Fprintf(&b, "<!-- Block map of %d bytes (%d blocks of %d bytes, %d mapped), written by edgeimg. -->\n", size, blocks, BmapBlockSize, mapped)
		fmt.Fprintf(&b, "<bmap version=\"2.0\">\n")
		fmt.Fprintf(&b, "    <ImageSize> %d </ImageSize>\n", size)
		fmt.Fprintf(&b, "    <BlockSize> %d </BlockSize>\n", BmapBlockSize)
		fmt.Fprintf(&b, "    <BlocksCount> %d </BlocksCount>\n", blocks)
		fmt.Fprintf(&b, "    <MappedBlocksCount> %d </MappedBlocksCount>\n", mapped)
		fmt.Fprintf(&b, "    <ChecksumType> sha256 </ChecksumType>\n")
		fmt.Fprintf(&b, "    <BmapFileChecksum> %s </BmapFileChecksum>\n", sum)
		fmt.Fprintf(&b, "    <BlockMap>\n%s    </BlockMap>\n", body.String())
		fmt.Fprintf(&b, "</bmap>\n")
		return b.Bytes()
	}
	sum := sha256.Sum256(doc(zero))
	_, err = w.Write(doc(hex.EncodeToString(sum[:])))
	return err
}
