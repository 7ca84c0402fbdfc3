package zframe

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Reader reads the decompressed bytes of a zstd file from the start of a
// frame to the end of the file, crossing into later frames and skipping
// skippable ones. It checks everything Scan does, but only when it gets
// there: bytes of a frame come out before its checksum vouches for them
// (klauspost checks the checksum before it gives out the last block). It
// also checks that the frame it starts at decodes to f.Len bytes, which
// catches an index that does not belong to the file.
//
// A Reader can be reused with Reset, which allocates nothing once the
// Reader has been used on frames with windows as large as the new ones.
// Close releases the decoder.
type Reader struct {
	maxWindow uint64
	dec       *zstd.Decoder
	in        input
	walk      walker
	f         Frame
	first     bool // in the frame at f, or before it
	inFrame   bool
	n         int64 // bytes of the current frame so far
	err       error
}

// NewReader returns a reader of the decompressed bytes of the zstd file src
// (size bytes) from the frame f onward. f comes from Scan. maxWindow is
// Scan's.
func NewReader(src io.ReaderAt, size int64, f Frame, maxWindow int) *Reader {
	r := &Reader{maxWindow: clampWindow(maxWindow)}
	r.Reset(src, size, f)
	return r
}

// Reset makes r read src from f, as NewReader does, with the same maxWindow.
func (r *Reader) Reset(src io.ReaderAt, size int64, f Frame) {
	if r.dec == nil {
		r.dec = newDecoder(r.maxWindow)
	}
	if r.in.buf == nil {
		r.in.buf = make([]byte, 1<<16)
	}
	r.f, r.first, r.inFrame, r.n, r.err = f, true, false, 0, nil
	r.in.resetAt(src, f.In, size)
	if f.In < 0 || f.In >= size {
		r.err = fmt.Errorf("zframe: frame at offset %d is outside the file (%d bytes)", f.In, size)
	}
}

// Read reads decompressed bytes. At the end of the file it returns io.EOF.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.err
	}
	for r.err == nil {
		if !r.inFrame {
			r.err = r.startFrame()
			continue
		}
		n, err := r.dec.Read(p)
		r.n += int64(n)
		if err != nil {
			r.err = r.endFrame(err)
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

func (r *Reader) startFrame() error {
	h, hdr, start, err := nextFrame(&r.in, r.maxWindow, 0)
	if r.first && start != r.f.In {
		// Skippable frames do not decode to anything: f cannot be one.
		return &posError{off: r.f.In, msg: "no data frame at the frame's offset"}
	}
	if err == io.EOF && r.first {
		return &posError{off: start, msg: "no data frame at the frame's offset", err: io.ErrUnexpectedEOF}
	}
	if err != nil {
		return err
	}
	r.walk.reset(&r.in, start, h, hdr)
	if err := r.dec.Reset(&r.walk); err != nil {
		return &posError{off: start, msg: "decoder reset", err: err}
	}
	r.inFrame, r.n = true, 0
	return nil
}

// endFrame handles the error with which klauspost stopped, io.EOF at the
// end of the frame.
func (r *Reader) endFrame(err error) error {
	if err := frameErr(&r.walk, err, nil); err != nil {
		return err
	}
	if err := frameEnd(&r.walk, r.n); err != nil {
		return err
	}
	if r.first && r.n != r.f.Len {
		return &posError{off: r.in.pos, msg: fmt.Sprintf("the frame at offset %d decodes to %d bytes, not %d: is the frame from this file?", r.f.In, r.n, r.f.Len)}
	}
	r.first, r.inFrame = false, false
	return nil
}

// Close releases the decoder; Reset after Close makes a new one.
func (r *Reader) Close() {
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
	if r.err == nil {
		r.err = fmt.Errorf("zframe: read of a closed Reader")
	}
}
