// Package lineindex defines the sparse line index that lets lined, getline and
// mkindex find line N of a very large text file without reading the file.
//
// # Lines
//
// A line is a run of bytes ending with '\n', or the final run of bytes of a
// file that does not end with '\n' (only if that run is non-empty). Lines are
// numbered from 1. The bytes of a line include its terminator, so the lines of
// a file, concatenated in order, are the file.
//
// # Checkpoints
//
// The index does not record every line. The source is divided into a grid of
// Spacing bytes (16 KiB by default). For every grid point g the index records
// the checkpoint of g: the first line start at or after g, as the pair (line
// number, byte offset). Several grid points inside one long line share a
// checkpoint, which is stored once. A final sentinel (M+1, size), where M is the
// number of lines, closes the table.
//
// Every line start that lies strictly between two consecutive checkpoints is
// less than Spacing bytes after the first of them, so finding line N means
// reading fewer than Spacing bytes past its checkpoint, plus the line itself.
// Because checkpoints depend only on grid points, disjoint parts of the source
// can be indexed in parallel and give the same index as a sequential build.
//
// # File layout (format version 4)
//
// All integers are little-endian. CRC-32C is the Castagnoli CRC. The source
// is the file; its text is the bytes its lines are made of: the source
// itself, or, for a compressed source, its decompressed bytes. Checkpoints,
// lines, the spacing and the content checksums are of the text; the size,
// times, device, inode and fingerprint are of the source.
//
//	offset size field
//	     0    8 magic "LINEDIX\x00"
//	     8    4 format version, 4
//	    12    4 header length in bytes, 160
//	    16    4 checkpoint spacing in bytes (a power of two, 512 .. 1 MiB)
//	    20    4 fingerprint sample length in bytes
//	    24    4 fingerprint sample count
//	    28    1 encoding of the source: 0 none (the text is the source),
//	            1 gzip (one member or several), 2 zstd (one frame or
//	            several)
//	    29    3 reserved, zero
//	    32    8 source size in bytes
//	    40    8 source modification time, nanoseconds since the Unix epoch
//	    48    8 number of lines M
//	    56    8 number of checkpoints K, sentinel included
//	    64   32 fingerprint: SHA-256 of sampled blocks of the source (below)
//	    96    4 content checksum: CRC-32C of the CRC-32C values (4 bytes each)
//	            of the text's consecutive 1 MiB segments, the last one shorter
//	   100    4 body checksum: CRC-32C of the body
//	   104    8 source status change time (ctime), nanoseconds since the
//	            Unix epoch; 0 if unknown
//	   112    8 source device number (st_dev); 0 if unknown
//	   120    8 source inode number (st_ino); 0 if unknown
//	   128    4 segments checksum: CRC-32C of the CRC-32C values of the
//	            text's complete 1 MiB segments (4 bytes each)
//	   132    4 CRC-32C of the text's last segment if it is shorter than
//	            1 MiB; 0 if there is none
//	   136    8 text length in bytes: the source size, for encoding 0
//	   144    8 length of the access section; 0 for encoding 0
//	   152    4 access section checksum: CRC-32C of it; 0 if it is empty
//	   156    4 header checksum: CRC-32C of bytes 0..155
//	   160 16*K body: K checkpoints, each line number (8) then text offset (8)
//	 160+16*K   access section
//
// The file is exactly 160+16*K bytes long, plus the access section. Reserved
// bytes are written as zero, and a reader refuses an index whose reserved
// bytes are not: a later format that uses them has another version number.
//
// The access section of a compressed source holds its access points,
// places where decompression can start. For gzip (see package inflate)
// they are the start of the file, then the first deflate block boundary,
// or member start, after every 1 to 8 MiB of text (further apart where
// windows are larger). A point inside a member needs the 32 KiB of text
// before it (its window; bytes that the stream after the point never
// copies are zero), stored compressed with deflate.
//
//	offset size field
//	     0    4 number of access points P (at least 1: the start)
//	     4    4 reserved, zero
//	     8 48*P the points, in order, each:
//	            0  8 bit offset in the source of its deflate block header,
//	                 or 8 times the byte offset of its member's header
//	            8  8 text offset of its first byte
//	           16  8 byte offset in the source where the deflate stream of
//	                 its member ends (its trailer begins)
//	           24  8 offset of its compressed window, from the windows' start
//	           32  4 length of its compressed window; 0 for none
//	           36  4 CRC-32C of its compressed window
//	           40  1 1 if it is the start of a member (no window), else 0
//	           41  7 reserved, zero
//	  8+48*P      windows, one after another
//
// For zstd (see package zframe) the points are frame starts, which need no
// window: the first data frame of the file (after any skippable frames),
// then the first non-empty frame that starts 1 MiB of text or more after
// the point before. The section has the same layout, without windows (it
// is 8+48*P bytes long); each point:
//
//	offset size field
//	     0    8 8 times the byte offset in the source of its frame's
//	            magic number
//	     8    8 text offset of its first byte (0 for the first point)
//	    16    8 the text length of its frame (a reader checks that the
//	            frame decodes to as much)
//	    24   16 zero (no window)
//	    40    1 1
//	    41    7 reserved, zero
//
// A zstd source is indexed only if every frame's text is at most 64 MiB
// (maxZstdFrame), which bounds what reading one line decompresses, and
// every frame's window at most 8 MiB (maxZstdWindow), which bounds a
// reader's memory; any other file is refused, with a message that says
// how to recompress it.
//
// The content checksum is the segments checksum continued with the last segment's
// CRC-32C (4 bytes) when there is a shorter last segment, and equal to it
// otherwise; a reader refuses an index where it is not. The two parts are
// kept so that an index can be extended when its source grows, without
// reading its old bytes again (see extend).
//
// The fingerprint is SHA-256 over the source size (8 bytes) followed, for each
// sample, by its offset (8 bytes) and its bytes. When the source is no longer
// than count*length bytes, one sample covers the whole source; otherwise count
// samples of length bytes are taken at evenly spaced offsets, the first at 0
// and the last ending at the end of the source.
//
// # Trust
//
// An index is used only if its header and body checksums hold, its table is
// well formed, and it describes the source as it is now (see
// Index.validate): the same file, by device and inode, with the same
// size, modification time and status change time, and the same
// fingerprint. The status change time cannot be set by anyone, so a file
// rewritten in place with its modification time put back is caught even
// where the fingerprint's samples miss the change; the device and inode
// tell another file from this one even when its size and times agree, so
// an index copied or moved with its file is rebuilt. Where the system
// gives no inode or status change time, a saved index is never trusted.
//
// An index is built from one version of its source (see build): the
// file must have been left alone for a settling time before the build
// starts, must not change while it runs, and must show the same sampled
// bytes after it as before.
//
// Between validations (a server keeps serving from a validated index), reading
// a line checks every byte the look-up reads against the checkpoints: the
// newline before the checkpoint, no newline inside the line, a newline at its
// end. A change that touches the line itself gives ErrMismatch, not a wrong
// line. A change elsewhere that only renumbers lines (a newline added or
// removed earlier in the file, the size unchanged) cannot be seen from the
// line's neighbourhood: it is caught by the next Validate, which a server
// runs whenever the file's size or times change. Index.verify compares the
// whole source with the index.
//
// # Memory
//
// An index read from a file keeps its body in a read-only shared mapping of
// the file rather than in the heap. The body is about 0.1% of the source,
// and mapped pages belong to the page cache, not to the process: a server
// needs about the same private memory for a source of 1 GiB or of 100 GiB.
// The price is that others can change the file under the mapping after it
// was checked at load. Truncated, a page beyond its new end faults (SIGBUS);
// overwritten, the checkpoints are no longer those checked. So at load the
// body is also summed in chunks of 512 bytes (CRC-32C, kept in the heap: 8
// bytes per KiB of body), and each look-up reads the mapping with faults
// made recoverable, checks the chunks that hold the two checkpoints it
// uses, and checks that they bracket the line asked for. Any failure is
// ErrIndexChanged, which matches ErrMismatch: the caller indexes the
// source again, and no wrong line is returned. An index that was built, or
// decoded from a reader, lives in the heap.
package lineindex

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// version is the index format version this package reads and writes.
const version = 4

const (
	magic         = "LINEDIX\x00"
	headerLen     = 160
	entryLen      = 16
	segmentLen    = 1 << 20 // content checksum segment
	minSpacing    = 512
	maxSpacing    = segmentLen
	sampleLen     = 4096
	sampleCount   = 16
	headerCRCFrom = 156

	// defaultSpacing is the checkpoint spacing of new indexes: about 0.1% of
	// the source in index size, at most 16 KiB read before a line.
	defaultSpacing = 16 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpoint is the first line start at or after a grid point.
type checkpoint struct {
	line int64 // line number, from 1
	off  int64 // byte offset of the line's first byte
}

// table holds checkpoints as they are encoded in the index body, so that
// the body can be used where it lies: in a mapping of the index file.
type table []byte

func (t table) len() int { return len(t) / entryLen }

func (t table) at(i int) checkpoint {
	e := t[i*entryLen:]
	return checkpoint{line: int64(binary.LittleEndian.Uint64(e)), off: int64(binary.LittleEndian.Uint64(e[8:]))}
}

func (t table) line(i int) int64 { return int64(binary.LittleEndian.Uint64(t[i*entryLen:])) }

// block returns the last checkpoint at or before line n and the one after it.
func (t table) block(n int64) (checkpoint, checkpoint) {
	i := t.search(n, t.len())
	return t.at(i), t.at(i + 1)
}

// search returns the position of the last of the first k checkpoints that
// is at or before line n, for line(0) <= n (and n < the sentinel's line).
func (t table) search(n int64, k int) int {
	lo, hi := 0, k // line(lo) <= n < line(hi), or hi == k
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if t.line(mid) <= n {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func (t table) all() []checkpoint {
	cps := make([]checkpoint, t.len())
	for i := range cps {
		cps[i] = t.at(i)
	}
	return cps
}

func encodeTable(cps []checkpoint) table {
	t := make([]byte, 0, len(cps)*entryLen)
	for _, c := range cps {
		t = appendEntry(t, c)
	}
	return t
}

// appendEntry appends the encoding of c to a table's bytes.
func appendEntry(t []byte, c checkpoint) []byte {
	t = binary.LittleEndian.AppendUint64(t, uint64(c.line))
	return binary.LittleEndian.AppendUint64(t, uint64(c.off))
}

// Index is a decoded, immutable line index. Its methods are safe for
// concurrent use, except Close.
type Index struct {
	meta
	// unchanged, for an index made by extend, is how many of its lines
	// were those of the index it extends, byte for byte.
	unchanged int64
	// The table is cps, sentinel included: in the heap, or in m. An index
	// extended in memory shares the table of the index it grew from, its
	// base: its table is the first prefix checkpoints of base's, then cps,
	// its own, in the heap. Extending it again gives another index on the
	// same base, so that an extension copies only what was added since
	// that base was read or built.
	cps    table
	base   *Index
	prefix int
	// m is the mapping of the index file that holds cps, and sums the
	// CRC-32C of each sumLen-byte chunk of cps, taken when it was checked;
	// both nil for an index in the heap.
	m    *mapping
	sums []uint32
	// access is where decompression can start, for a compressed source.
	access *access
	closed atomic.Bool
}

// meta is what the header says about the source and the table.
type meta struct {
	spacing     int64
	stamp             // of the source as indexed
	text        int64 // length of the text: the source's size, unless it is compressed
	encoding    byte  // of the source: plainSource, gzipSource, zstdSource
	lines       int64
	fingerprint [32]byte
	// segs is the CRC-32C of the CRC-32C values of the source's complete
	// segments; partial the CRC-32C of its last, shorter segment, if any.
	segs, partial uint32
	// accessLen and accessCRC are the length and checksum of the access
	// section that follows the body, as a header read says.
	accessLen int64
	accessCRC uint32
}

// content is the content checksum: one CRC-32C that covers every byte of
// the source, as the package documentation defines it.
func (m *meta) content() uint32 {
	if m.text%segmentLen == 0 {
		return m.segs
	}
	return crc32.Update(m.segs, castagnoli, binary.LittleEndian.AppendUint32(nil, m.partial))
}

// Lines returns the number of lines in the indexed source.
func (ix *Index) Lines() int64 { return ix.lines }

// Size returns the size in bytes of the indexed text (the source's, unless
// it is compressed).
func (ix *Index) Size() int64 { return ix.text }

// Compressed returns the format of a compressed source ("gzip" or "zstd")
// and the source's own size in bytes; "" and the text's size if the source
// is not compressed.
func (ix *Index) Compressed() (format string, size int64) {
	switch ix.encoding {
	case gzipSource:
		return "gzip", ix.size
	case zstdSource:
		return "zstd", ix.size
	}
	return "", ix.text
}

// ModTime returns the modification time the source had when it was indexed.
func (ix *Index) ModTime() time.Time { return time.Unix(0, ix.modTime) }

// Tag returns a short text that names the version of the source the index
// describes: 16 hex digits of a SHA-256 over its fingerprint, size,
// modification time and content checksum, which covers every byte. Two
// versions with other content have other tags; lined builds its ETags
// from it.
func (ix *Index) Tag() string {
	h := sha256.New()
	h.Write(ix.fingerprint[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(ix.size)))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(ix.text)))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(ix.modTime)))
	h.Write(binary.LittleEndian.AppendUint32(nil, ix.content()))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// EncodedLen returns the size in bytes of the encoded index.
func (ix *Index) EncodedLen() int64 {
	n := headerLen + ix.bodyLen()
	if ix.access != nil {
		n += int64(len(ix.access.enc))
	}
	return n
}

// corruptError reports an index file that cannot be decoded.
type corruptError struct {
	Reason string
}

func (e *corruptError) Error() string { return "index is corrupt: " + e.Reason }

func corrupt(format string, args ...any) error {
	return &corruptError{Reason: fmt.Sprintf(format, args...)}
}

// readFile reads and decodes the index file at path. It does not compare the
// index with its source; see Index.validate. On unix systems the body is
// mapped, not read (see the package documentation): [Index.Close] releases
// it.
func readFile(path string) (*Index, error) {
	// Non-blocking: opening a FIFO put where an index should be must not
	// wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errNotIndex
	}
	if ix, err := readMapped(f); !errors.Is(err, errNotMapped) {
		return ix, err
	}
	return decode(f)
}

// errNotIndex reports a file that does not start with the index magic: not
// an index at all, rather than a damaged one, and never replaced by one.
var errNotIndex = &corruptError{Reason: "not a lined index (bad magic)"}

// decode reads an encoded index from r, checking its checksums and structure.
func decode(r io.Reader) (*Index, error) {
	var h [headerLen]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		switch {
		case n < len(magic) && (err == io.EOF || err == io.ErrUnexpectedEOF), n >= len(magic) && string(h[:len(magic)]) != magic:
			return nil, errNotIndex
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, corrupt("shorter than its %d-byte header", headerLen)
		}
		return nil, err
	}
	ix, k, bodyCRC, err := decodeHeader(&h)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, int64(k*entryLen)+ix.accessLen)
	if err != nil {
		return nil, err
	}
	switch {
	case uint64(len(body)) < k*entryLen+uint64(ix.accessLen):
		return nil, corrupt("truncated body")
	case uint64(len(body)) > k*entryLen+uint64(ix.accessLen):
		return nil, corrupt("trailing bytes after the body")
	}
	if err := ix.decodeAccess(body[k*entryLen:]); err != nil {
		return nil, err
	}
	body = body[:k*entryLen]
	if crc32.Checksum(body, castagnoli) != bodyCRC {
		return nil, corrupt("body checksum mismatch")
	}
	ix.cps = table(body)
	tc := tableCheck{ix: ix, k: int(k)}
	if err := tc.add(ix.cps); err != nil {
		return nil, err
	}
	return ix, nil
}

// decodeHeader checks the header h and returns the index it describes,
// without its body, the number of checkpoints and the body's checksum.
func decodeHeader(h *[headerLen]byte) (ix *Index, k uint64, bodyCRC uint32, err error) {
	le := binary.LittleEndian
	if string(h[0:8]) != magic {
		return nil, 0, 0, errNotIndex
	}
	if v := le.Uint32(h[8:]); v != version {
		return nil, 0, 0, corrupt("format version %d, want %d", v, version)
	}
	if crc32.Checksum(h[:headerCRCFrom], castagnoli) != le.Uint32(h[headerCRCFrom:]) {
		return nil, 0, 0, corrupt("header checksum mismatch")
	}
	if n := le.Uint32(h[12:]); n != headerLen {
		return nil, 0, 0, corrupt("header length %d, want %d", n, headerLen)
	}
	if le.Uint32(h[20:]) != sampleLen || le.Uint32(h[24:]) != sampleCount {
		return nil, 0, 0, corrupt("unsupported fingerprint parameters")
	}
	if h[28] > zstdSource {
		return nil, 0, 0, corrupt("unknown source encoding %d", h[28])
	}
	if !allZero(h[29:32]) {
		return nil, 0, 0, corrupt("reserved header bytes are not zero")
	}
	ix = &Index{meta: meta{
		spacing: int64(le.Uint32(h[16:])),
		stamp: stamp{
			size:       int64(le.Uint64(h[32:])),
			modTime:    int64(le.Uint64(h[40:])),
			changeTime: int64(le.Uint64(h[104:])),
			dev:        le.Uint64(h[112:]),
			ino:        le.Uint64(h[120:]),
		},
		text:      int64(le.Uint64(h[136:])),
		encoding:  h[28],
		lines:     int64(le.Uint64(h[48:])),
		segs:      le.Uint32(h[128:]),
		partial:   le.Uint32(h[132:]),
		accessLen: int64(le.Uint64(h[144:])),
		accessCRC: le.Uint32(h[152:]),
	}}

	copy(ix.fingerprint[:], h[64:96])
	if !validSpacing(ix.spacing) {
		return nil, 0, 0, corrupt("checkpoint spacing %d out of range", ix.spacing)
	}
	if ix.size < 0 || ix.text < 0 || ix.lines < 0 || ix.lines > ix.text || (ix.lines == 0) != (ix.text == 0) {
		return nil, 0, 0, corrupt("impossible size %d or line count %d", ix.text, ix.lines)
	}
	switch {
	case ix.encoding == plainSource && (ix.text != ix.size || ix.accessLen != 0 || ix.accessCRC != 0):
		return nil, 0, 0, corrupt("text of %d bytes and an access section of %d bytes for an uncompressed source of %d", ix.text, ix.accessLen, ix.size)
	case ix.encoding != plainSource && (ix.accessLen < accessHeadLen+accessEntryLen || ix.accessLen > 1<<40):
		return nil, 0, 0, corrupt("access section of %d bytes", ix.accessLen)
	}
	if ix.content() != le.Uint32(h[96:]) || (ix.text%segmentLen == 0 && ix.partial != 0) {
		return nil, 0, 0, corrupt("content checksum does not agree with its parts")
	}
	k = le.Uint64(h[56:])
	// Each grid point has at most one checkpoint, plus the sentinel.
	if k < 1 || k > uint64(ix.text/ix.spacing)+2 {
		return nil, 0, 0, corrupt("impossible checkpoint count %d", k)
	}
	return ix, k, le.Uint32(h[100:]), nil
}

// readBody reads the body the header announces and one byte more, if
// there is one. It allocates what the header claims only when the file's size
// confirms it; otherwise it reads what is there, so that a damaged count
// cannot cost more memory than the file holds.
func readBody(r io.Reader, want int64) ([]byte, error) {
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() == headerLen+want {
			body := make([]byte, want, want+1)
			n, err := io.ReadFull(r, body)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				return nil, err
			}
			body = body[:n]
			if n == len(body) {
				if m, _ := r.Read(body[n : n+1]); m > 0 {
					body = body[:n+1]
				}
			}
			return body, nil
		}
	}
	return io.ReadAll(io.LimitReader(r, want+1))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func validSpacing(s int64) bool {
	return s >= minSpacing && s <= maxSpacing && s&(s-1) == 0
}

// tableCheck checks the invariants every index built by this package has, so
// that look-ups can rely on them. It is given the k checkpoints in order,
// in one or more parts, so that a mapped body is checked as it is copied.
type tableCheck struct {
	ix   *Index
	k    int        // checkpoints in all, sentinel included
	i    int        // checkpoints seen
	prev checkpoint // the last of them
}

func (tc *tableCheck) add(t table) error {
	ix := tc.ix
	le := binary.LittleEndian
	// This loop is most of the time an index takes to load (~0.65 ms per MiB of
	// index), so it keeps its state in locals, decodes in place, and finds
	// grid cells by shifting (the spacing is a power of two).
	cell := uint(bits.TrailingZeros64(uint64(ix.spacing)))
	i, p, last := tc.i, tc.prev, tc.k-1
	for ; len(t) >= entryLen; t = t[entryLen:] {
		c := checkpoint{line: int64(le.Uint64(t[:8])), off: int64(le.Uint64(t[8:16]))}
		if i == last && (c.line != ix.lines+1 || c.off != ix.text) {
			return corrupt("sentinel (%d, %d) does not close %d lines of %d bytes", c.line, c.off, ix.lines, ix.text)
		}
		switch {
		case i == 0:
			if ix.lines > 0 && (c.line != 1 || c.off != 0) {
				return corrupt("first checkpoint is not line 1 at offset 0")
			}
		case c.line <= p.line || c.off <= p.off || c.off-p.off < c.line-p.line:
			return corrupt("checkpoint %d (%d, %d) does not follow (%d, %d)", i, c.line, c.off, p.line, p.off)
		case i < last && c.off>>cell == p.off>>cell:
			// Consecutive checkpoints lie in different grid cells (the
			// sentinel may share the cell of the last checkpoint).
			return corrupt("checkpoints %d and %d share a grid cell", i-1, i)
		}
		i, p = i+1, c
	}
	tc.i, tc.prev = i, p
	return nil
}

// header encodes the index's header, in the format described in the
// package documentation; its body follows, as eachBodyPiece gives it.
func (ix *Index) header() (*[headerLen]byte, error) {
	bodyCRC, err := ix.bodySum()
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	h := new([headerLen]byte)
	copy(h[:], magic)
	le.PutUint32(h[8:], version)
	le.PutUint32(h[12:], headerLen)
	le.PutUint32(h[16:], uint32(ix.spacing))
	le.PutUint32(h[20:], sampleLen)
	le.PutUint32(h[24:], sampleCount)
	le.PutUint64(h[32:], uint64(ix.size))
	le.PutUint64(h[40:], uint64(ix.modTime))
	le.PutUint64(h[48:], uint64(ix.lines))
	le.PutUint64(h[56:], uint64(ix.bodyLen()/entryLen))
	copy(h[64:96], ix.fingerprint[:])
	le.PutUint32(h[96:], ix.content())
	le.PutUint32(h[100:], bodyCRC)
	le.PutUint64(h[104:], uint64(ix.changeTime))
	le.PutUint64(h[112:], ix.dev)
	le.PutUint64(h[120:], ix.ino)
	le.PutUint32(h[128:], ix.segs)
	le.PutUint32(h[132:], ix.partial)
	le.PutUint64(h[136:], uint64(ix.text))
	h[28] = ix.encoding
	if ix.access != nil {
		le.PutUint64(h[144:], uint64(len(ix.access.enc)))
		le.PutUint32(h[152:], crc32.Checksum(ix.access.enc, castagnoli))
	}
	le.PutUint32(h[headerCRCFrom:], crc32.Checksum(h[:headerCRCFrom], castagnoli))
	return h, nil
}

// decodeAccess checks the access section b that the header announced, and
// keeps it.
func (ix *Index) decodeAccess(b []byte) error {
	if ix.encoding == plainSource {
		return nil
	}
	if crc32.Checksum(b, castagnoli) != ix.accessCRC {
		return corrupt("access section checksum mismatch")
	}
	a, err := decodeAccess(b, ix.encoding, ix.size, ix.text)
	if err != nil {
		return err
	}
	ix.access = a
	return nil
}
