package lineindex

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/lined/lined/internal/inflate"
)

// checkGzipPoint checks what accessCheck cannot check for any encoding
// about point i of a gzip source of size bytes.
func checkGzipPoint(i int, p accessPoint, size int64) error {
	switch {
	case p.end > size:
		return corrupt("access point %d out of the source", i)
	case i == 0 && (p.in != 0 || !p.member):
		return corrupt("the first access point is not the start")
	case !p.member && p.end <= p.in/8:
		return corrupt("access point %d ends before it starts", i)
	}
	return nil
}

// windowInflater decompresses the stored windows of access points; a
// decoder keeps one, which would otherwise be garbage at every restart.
type windowInflater struct {
	stored []byte // a copy of a window of a mapped section
	in     bytes.Reader
	fr     io.ReadCloser
}

// window returns the window of point p, decompressed into buf by z.
func (a *access) window(i int, p accessPoint, buf []byte, z *windowInflater) ([]byte, error) {
	if p.winLen == 0 {
		return buf[:0], nil
	}
	w, err := a.windowBytes(p, &z.stored)
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(w, castagnoli) != p.winCRC {
		return nil, ErrIndexChanged
	}
	z.in.Reset(w)
	if z.fr == nil {
		z.fr = flate.NewReader(&z.in)
	} else if err := z.fr.(flate.Resetter).Reset(&z.in, nil); err != nil {
		return nil, err
	}
	n, err := io.ReadFull(z.fr, buf[:cap(buf)])
	if err == nil {
		var one [1]byte
		if _, err = io.ReadFull(z.fr, one[:]); err == nil {
			err = errors.New("window longer than 32 KiB")
		}
	}
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("lineindex: access point %d: %w", i, err)
	}
	return buf[:n], nil
}

// inflatePoint returns point i as inflate takes it, with its window in
// buf, decompressed by z.
func (a *access) inflatePoint(i int, buf []byte, z *windowInflater) (inflate.Point, error) {
	p, err := a.point(i)
	if err != nil {
		return inflate.Point{}, err
	}
	w, err := a.window(i, p, buf, z)
	if err != nil {
		return inflate.Point{}, err
	}
	return inflate.Point{In: p.in, Out: p.out, End: p.end, Window: w, Member: p.member}, nil
}

// scanGzip is the scan of gzip's codec: access points at deflate block
// boundaries and member starts, each with the 32 KiB window before it,
// from every to accessMax bytes of text apart, by the size of the window
// (unless the options set every).
func scanGzip(in io.Reader, every int64, opts BuildOptions, text func([]byte) error, a *access) error {
	pending := 0 // the first point whose end is not known yet
	var zbuf bytes.Buffer
	zw, _ := flate.NewWriter(&zbuf, flate.DefaultCompression)
	next := int64(0) // the text offset from which the next point is kept
	_, err := inflate.Scan(in, every, text, func(p inflate.Point) error {
		if p.Out < next {
			return nil
		}
		ap := accessPoint{in: p.In, out: p.Out, member: p.Member, winOff: int64(len(a.windows))}
		if len(p.Window) > 0 {
			zbuf.Reset()
			zw.Reset(&zbuf)
			zw.Write(p.Window)
			if err := zw.Close(); err != nil {
				return err
			}
			ap.winLen, ap.winCRC = uint32(zbuf.Len()), crc32.Checksum(zbuf.Bytes(), castagnoli)
			a.windows = append(a.windows, zbuf.Bytes()...)
		}
		a.points = append(a.points, ap)
		if opts.accessEvery == 0 {
			next = p.Out + min(max(int64(ap.winLen)*windowCost, every), accessMax)
		}
		return nil
	}, func(end int64) error {
		for i := pending; i < len(a.points); i++ {
			a.points[i].end = end
		}
		pending = len(a.points)
		return nil
	})
	if err != nil {
		return fmt.Errorf("not a valid gzip file: %w", err)
	}
	return nil
}

// gzipDecoder is gzip's decoder: inflate's Reader, restarted at a point
// with its window.
type gzipDecoder struct {
	src    io.ReaderAt
	size   int64
	a      *access
	r      *inflate.Reader
	window []byte
	z      windowInflater
}

func newGzipDecoder(src io.ReaderAt, size int64, a *access) decoder {
	return &gzipDecoder{src: src, size: size, a: a, window: make([]byte, 0, 32<<10)}
}

func (d *gzipDecoder) reset(i int) error {
	p, err := d.a.inflatePoint(i, d.window, &d.z)
	if err != nil {
		return err
	}
	if d.r == nil {
		d.r = inflate.NewReader(d.src, d.size, p)
	} else {
		d.r.Reset(d.src, d.size, p)
	}
	return nil
}

func (d *gzipDecoder) Read(p []byte) (int, error) { return d.r.Read(p) }
