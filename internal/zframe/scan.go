package zframe

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Frame is a zstd frame of the file: where it starts, and where its output
// starts.
type Frame struct {
	In  int64 // byte offset of the frame's magic number in the file
	Out int64 // offset of its first decompressed byte (all frames' output concatenated)
	Len int64 // its decompressed length
}

// Scan decompresses the zstd file read from r (every frame; skippable
// frames, magic 0x184D2A50..5F, are skipped wherever they are) and passes
// the output, in order, to out (if not nil), which must not keep the slice.
// It calls frame (if not nil) once per data frame, frames with no content
// too, when the frame has been decoded, in order. Errors from out and frame
// stop Scan and are returned as they are.
//
// Scan verifies each frame: its header (no reserved bit, no dictionary,
// a window of at most maxWindow bytes), its block headers (no reserved
// type, no block over the frame's maximum block size), the blocks
// themselves, the content checksum when the frame has one and the content
// size when it declares one. Anything that is not a frame where a frame
// should start is an error, trailing garbage too. An empty file is an
// error; truncated input wraps io.ErrUnexpectedEOF. Errors give the byte
// offset where the problem was found. out may have been given bytes of a
// frame that turns out to be bad: the checksum comes after them.
//
// maxWindow bounds the memory a frame can make Scan use: about maxWindow
// bytes of history plus a few block buffers (128 KiB each), whatever the
// input. A limit under 1 KiB counts as 1 KiB, the smallest window.
//
// maxFrame, if > 0, bounds the content of each frame: a frame whose header
// declares more is refused before any of it is decoded, and a frame that
// declares no size is refused once its output passes the limit, without
// giving out the bytes past it. The error is a *FrameTooLargeError. This
// bounds the time a frame can make a reader of its middle spend, whatever
// its compression ratio. Scan returns the number of decompressed bytes.
func Scan(r io.Reader, maxWindow int, maxFrame int64, out func([]byte) error, frame func(Frame) error) (int64, error) {
	mw := clampWindow(maxWindow)
	s := scanner{maxWindow: mw, maxFrame: maxFrame, dec: newDecoder(mw)}
	defer s.dec.Close()
	s.w.out = out
	s.in.buf = make([]byte, 1<<16)
	s.in.resetReader(r)
	err := s.run(frame)
	return s.w.n, err
}

type scanner struct {
	maxWindow uint64
	maxFrame  int64
	dec       *zstd.Decoder
	in        input
	walk      walker
	w         outWriter
}

// outWriter takes the decoder's output (klauspost's WriteTo hands over its
// history buffer, saving a copy) and counts it.
type outWriter struct {
	out   func([]byte) error
	n     int64
	err   error // from out, or the frame's content over the limit
	frame int64 // where the current frame's output starts
	max   int64 // the limit on a frame's content, if > 0
	in    int64 // the offset of the current frame
}

func (w *outWriter) Write(p []byte) (int, error) {
	if w.max > 0 && w.n+int64(len(p))-w.frame > w.max {
		w.err = &FrameTooLargeError{In: w.in, Size: -1, Limit: w.max}
		return 0, w.err
	}
	if w.out != nil {
		if err := w.out(p); err != nil {
			w.err = err
			return 0, err
		}
	}
	w.n += int64(len(p))
	return len(p), nil
}

func (s *scanner) run(frame func(Frame) error) error {
	for {
		h, hdr, start, err := nextFrame(&s.in, s.maxWindow, s.maxFrame)
		if err == io.EOF {
			if start == 0 {
				return &posError{off: 0, msg: "empty file, not zstd", err: io.ErrUnexpectedEOF}
			}
			return nil
		}
		if err != nil {
			return err
		}
		s.walk.reset(&s.in, start, h, hdr)
		if err := s.dec.Reset(&s.walk); err != nil {
			return &posError{off: start, msg: "decoder reset", err: err}
		}
		out0 := s.w.n
		s.w.frame, s.w.in, s.w.max = out0, start, s.maxFrame
		_, err = s.dec.WriteTo(&s.w)
		if err := frameErr(&s.walk, err, s.w.err); err != nil {
			return err
		}
		f := Frame{In: start, Out: out0, Len: s.w.n - out0}
		if err := frameEnd(&s.walk, f.Len); err != nil {
			return err
		}
		if frame != nil {
			if err := frame(f); err != nil {
				return err
			}
		}
	}
}

// frameErr picks the error to report for a frame that klauspost stopped
// decoding with err: the walker's, which knows where it is in the file and
// whether the file ended, else the caller's own, else klauspost's.
func frameErr(w *walker, err, own error) error {
	switch {
	case w.err != nil:
		return w.err
	case err == nil || err == io.EOF:
		return nil
	case own != nil:
		return own
	}
	msg := fmt.Sprintf("corrupt frame (the frame at offset %d)", w.start)
	switch {
	case errors.Is(err, zstd.ErrCRCMismatch):
		msg = fmt.Sprintf("content checksum mismatch (the frame at offset %d)", w.start)
	case errors.Is(err, zstd.ErrFrameSizeMismatch), errors.Is(err, zstd.ErrFrameSizeExceeded):
		msg = fmt.Sprintf("content does not have the %d bytes the header of the frame at offset %d declares", w.h.fcs, w.start)
	}
	return &posError{off: w.in.pos, msg: msg, err: err}
}

// frameEnd checks a frame that klauspost has decoded without error, to
// n bytes: it must have ended where its block headers say, and have the
// size its header says.
func frameEnd(w *walker, n int64) error {
	if w.p != partDone {
		return &posError{off: w.in.pos, msg: fmt.Sprintf("the decoder stopped before the end of the frame at offset %d", w.start)}
	}
	if w.h.hasFCS && uint64(n) != w.h.fcs {
		return &posError{off: w.in.pos, msg: fmt.Sprintf("frame at offset %d declares %d bytes of content, has %d", w.start, w.h.fcs, n)}
	}
	return nil
}
