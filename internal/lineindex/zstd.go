package lineindex

import (
	"cmp"
	"errors"
	"fmt"
	"io"

	"github.com/lined/lined/internal/zframe"
)

// maxZstdFrame is the largest text a frame of a zstd source may hold. A
// frame cannot be entered in the middle, so reading a line decompresses
// its frame from the start: this bounds that work (about 0.1 s here). A
// file with a larger frame, as zstd FILE writes one for the whole file, is
// refused with a message that says how to write it in frames.
const maxZstdFrame = 64 << 20

// maxZstdWindow is the largest window a frame of a zstd source may
// declare: every decoder holds one, allocated when its frame starts.
// zstd's levels 1 to 19 and pzstd use 8 MiB at most; --long and --ultra
// levels use more.
const maxZstdWindow = 8 << 20

// checkZstdPoint checks what accessCheck cannot check for any encoding
// about point i of a zstd source whose text is text bytes long, after
// prev, the point before.
func checkZstdPoint(i int, p, prev accessPoint, text int64) error {
	switch {
	case !p.member || p.in%8 != 0 || p.winOff != 0 || p.winLen != 0 || p.winCRC != 0:
		return corrupt("access point %d is not a zstd frame start", i)
	case p.end > text-p.out:
		return corrupt("access point %d: a frame of %d bytes past the end of the text", i, p.end)
	case i > 0 && p.out < prev.out+prev.end:
		return corrupt("access point %d starts inside the frame before", i)
	}
	return nil
}

// scanZstd is the scan of zstd's codec: access points at frame starts, the
// first frame, then the first non-empty one that starts every bytes of
// text or more after the point before. A point needs no window.
func scanZstd(in io.Reader, every int64, opts BuildOptions, text func([]byte) error, a *access) error {
	limit := cmp.Or(opts.maxFrame, maxZstdFrame)
	_, err := zframe.Scan(in, maxZstdWindow, limit, text, func(f zframe.Frame) error {
		if n := len(a.points); n == 0 || f.Len > 0 && f.Out >= a.points[n-1].out+every {
			a.points = append(a.points, accessPoint{in: 8 * f.In, out: f.Out, end: f.Len, member: true})
		}
		return nil
	})
	var big *zframe.FrameTooLargeError
	var wide *zframe.WindowTooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &big):
		size := "more than " + SizeString(big.Limit)
		if big.Size >= 0 {
			size = SizeString(big.Size)
		}
		return fmt.Errorf("a zstd frame of %s (at byte %d) cannot be entered in the middle (the limit is %s): "+
			"recompress the file in frames, e.g. zstd -dc FILE | pzstd -c > NEW.zst", size, big.In, SizeString(big.Limit))
	case errors.As(err, &wide):
		return fmt.Errorf("a zstd frame (at byte %d) has a window of %s, more memory than a reader may take (the limit is %s): "+
			"recompress the file at level 19 or lower without --long, e.g. zstd -dc FILE | pzstd -c > NEW.zst", wide.In, SizeString(int64(wide.Window)), SizeString(int64(wide.Limit)))
	}
	return fmt.Errorf("not a valid zstd file: %w", err)
}

// zstdDecoder is zstd's decoder: zframe's Reader, restarted at a frame.
type zstdDecoder struct {
	src  io.ReaderAt
	size int64
	a    *access
	r    *zframe.Reader
}

func newZstdDecoder(src io.ReaderAt, size int64, a *access) decoder {
	return &zstdDecoder{src: src, size: size, a: a}
}

func (d *zstdDecoder) reset(i int) error {
	p, err := d.a.point(i)
	if err != nil {
		return err
	}
	f := zframe.Frame{In: p.in / 8, Out: p.out, Len: p.end}
	if d.r == nil {
		d.r = zframe.NewReader(d.src, d.size, f, maxZstdWindow)
	} else {
		d.r.Reset(d.src, d.size, f)
	}
	return nil
}

func (d *zstdDecoder) Read(p []byte) (int, error) { return d.r.Read(p) }

// SizeString formats a byte count with binary units: "512 B", "1.5 MiB".
func SizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
