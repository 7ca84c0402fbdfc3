package lineindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// errNotGrown reports a source that did not only grow since its index was
// built: it must be indexed anew.
var errNotGrown = errors.New("the file did not only grow")

// grown tells whether the file stamped now is the one ix describes, grown:
// the same file, larger. Its times have moved with the appends, and say
// nothing more; whether its old bytes are unchanged is checkGrown's to see.
// A compressed source is never taken as grown: it is indexed anew.
func (ix *Index) grown(now stamp) bool {
	return ix.encoding == plainSource && now.known() && now.dev == ix.dev && now.ino == ix.ino && now.size > ix.size
}

// checkGrown checks, as far as can be seen without reading them all, that
// the first ix.size bytes of src are still those ix was built from: the
// fingerprint's sampled blocks of them (the last of which ends at the old
// end), and the block of the last checkpoint, whose newlines must be where
// the index says. It reads at most 64 KiB and one spacing. A change to
// other old bytes, made at the same time as an append, is not seen: the
// times that would show it have moved with the append.
func (ix *Index) checkGrown(src io.ReaderAt) error {
	fp, err := fingerprint(src, ix.size)
	if err != nil {
		return err
	}
	if fp != ix.fingerprint {
		return fmt.Errorf("%w: its old bytes changed (fingerprint)", errNotGrown)
	}
	if ix.size == 0 {
		return nil
	}
	last, err := ix.lastCheckpoint()
	if err != nil {
		return err
	}
	// Lines last.line..M start in [last.off, cellEnd): the newlines of
	// the lines before M, and M's own if the old file ended with one and
	// it lies before cellEnd.
	cellEnd := (last.off/ix.spacing + 1) * ix.spacing
	from, to := max(last.off-1, 0), min(ix.size, cellEnd)
	block := make([]byte, to-from)
	if err := readFull(src, block, from); err != nil {
		return err
	}
	endsWithNewline := block[len(block)-1] == '\n'
	if to < ix.size {
		var b [1]byte
		if err := readFull(src, b[:], ix.size-1); err != nil {
			return err
		}
		endsWithNewline = b[0] == '\n'
	}
	want := ix.lines - last.line
	if endsWithNewline && ix.size <= cellEnd {
		want++
	}
	if last.off > 0 {
		if block[0] != '\n' {
			return fmt.Errorf("%w: its last indexed line moved", errNotGrown)
		}
		block = block[1:]
	}
	if got := int64(bytes.Count(block, newline)); got != want {
		return fmt.Errorf("%w: its last indexed lines changed", errNotGrown)
	}
	return nil
}

// Extend returns the index of f, the file ix describes, now that it has
// grown, and how many of its lines are still those ix describes, unchanged
// (the last of ix's lines grew if it had no newline). It fails with an
// error that matches ErrMismatch if f changed otherwise, or changes other
// than by growing while it is read: it must be indexed anew.
func (ix *Index) Extend(ctx context.Context, f *os.File, opts BuildOptions) (x *Index, unchanged int64, err error) {
	x, err = ix.extend(ctx, f, opts)
	if errors.Is(err, errNotGrown) || errors.Is(err, errChanged) {
		return nil, 0, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	if err != nil {
		return nil, 0, err
	}
	return x, x.unchanged, nil
}

// extend returns the index of f, a file that has grown since ix was built,
// made by reading only what was appended (and what checkGrown reads): the
// same index, byte for byte, as a build of the whole file gives. It fails
// with errNotGrown if f is another file, is not larger, or its old bytes
// changed as far as checkGrown can see; with errChanged if it changes
// other than by growing while it is read.
func (ix *Index) extend(ctx context.Context, f *os.File, opts BuildOptions) (*Index, error) {
	fd := int(f.Fd())
	now, err := fstatGrowing(f, fd, ix.stamp)
	if err != nil {
		return nil, err
	}
	if !ix.grown(now) {
		return nil, errNotGrown
	}
	if err := ix.checkGrown(f); err != nil {
		return nil, err
	}
	if ix.size == 0 {
		opts.Settle = -1 // what it grew from holds nothing to keep
		return build(ctx, f, opts)
	}
	x, err := ix.appendFrom(ctx, f, now.size, opts)
	if err != nil {
		return nil, err
	}
	// Still the same file, grown or not since, and its old bytes as they
	// were: what was read is one version of it.
	after, err := fstatGrowing(f, fd, now)
	if err != nil {
		x.Close()
		return nil, err
	}
	if after != now && !x.grown(after) {
		x.Close()
		return nil, errChanged
	}
	if err := ix.checkGrown(f); err != nil {
		x.Close()
		return nil, errChanged
	}
	x.stamp = now
	return x, nil
}

// appendFrom indexes the bytes of src from ix.size to size on top of ix.
func (ix *Index) appendFrom(ctx context.Context, src io.ReaderAt, size int64, opts BuildOptions) (*Index, error) {
	last, err := ix.lastCheckpoint()
	if err != nil {
		return nil, err
	}
	base, prefix, body := ix.extendedTable(int((size-ix.size)/ix.spacing + 2))
	var b [1]byte
	if err := readFull(src, b[:], ix.size-1); err != nil {
		return nil, err
	}
	complete := ix.lines // newlines in the old bytes
	if b[0] != '\n' {
		complete--
	}
	spacing := ix.spacing
	t := &task{start: ix.size, end: size}
	// The grid points after the last checkpoint's cell had no line start
	// in the old bytes: if the old bytes end with a newline, the new
	// bytes start the line they all wait for.
	grid := (last.off/spacing + 1) * spacing
	if grid <= ix.size && b[0] == '\n' {
		t.cps = append(t.cps, checkpoint{line: 0, off: ix.size})
		grid = (ix.size/spacing + 1) * spacing
	}
	segs, partial := ix.segs, ix.partial
	buf := make([]byte, pieceLen)
	for off := ix.size; off < size; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Pieces end at segment boundaries, where a segment's checksum is
		// complete.
		n := min(int64(len(buf)), size-off, segmentLen-off%segmentLen)
		p := buf[:n]
		if err := readFull(src, p, off); err != nil {
			return nil, err
		}
		partial = crc32.Update(partial, castagnoli, p)
		if (off+n)%segmentLen == 0 {
			segs = crc32.Update(segs, castagnoli, binary.LittleEndian.AppendUint32(nil, partial))
			partial = 0
		}
		grid = t.scan(p, off, grid, size, spacing)
		off += n
		if opts.Progress != nil {
			opts.Progress(off-ix.size, size-ix.size)
		}
	}
	fp, err := fingerprint(src, size)
	if err != nil {
		return nil, err
	}
	x := &Index{meta: meta{spacing: spacing, stamp: ix.stamp, fingerprint: fp, segs: segs, partial: partial}, unchanged: complete, base: base, prefix: prefix}
	x.size, x.text = size, size
	x.lines = complete + t.newlines
	if !t.endsWithNewline {
		x.lines++
	}
	for _, c := range t.cps {
		body = appendEntry(body, checkpoint{line: complete + c.line + 1, off: c.off})
	}
	x.cps = table(appendEntry(body, checkpoint{line: x.lines + 1, off: size}))
	if base.m != nil {
		base.m.users.Add(1) // released by x.Close
	}
	return x, nil
}
