package lineindex

import (
	"io"
	"os"
)

// newPieceReader maps files into memory, to scan the page cache in place:
// the copy that reading makes was half of a build's CPU time. Other sources,
// and files where mapping is not available, are read.
func newPieceReader(src io.ReaderAt) pieceReader {
	if f, ok := src.(*os.File); ok {
		return &mmapReader{f: f, pread: preadReader{src: src}}
	}
	return &preadReader{src: src}
}

// mmapReader maps each task's range, from the page that holds the byte just
// before it, read-only, and unmaps it when the task ends: a build maps at
// most workers × taskLen bytes at a time, whatever the file's size.
//
// Pages are left to be mapped by the faults of the first touches, which map
// 16 pages each: MAP_POPULATE and MADV_POPULATE_READ made builds slower,
// MADV_SEQUENTIAL with MADV_WILLNEED no faster.
type mmapReader struct {
	f     *os.File
	mem   []byte // the running task's mapping; nil: read with pread
	base  int64  // the file offset of mem[0]
	pread preadReader
}

var pageSize = int64(os.Getpagesize())

func (r *mmapReader) task(start, end int64, fn func() error) error {
	base := max(start-1, 0) / pageSize * pageSize
	mem, err := mmap(r.f, base, int(end-base))
	if err != nil {
		return fn() // some files cannot be mapped, but can be read
	}
	r.mem, r.base = mem, base
	defer func() {
		r.mem = nil
		munmap(mem)
	}()

	// A page truncated away under the build fails it with errChanged, as
	// a read that comes back short does.
	if err := guardFaults(mem, errChanged, fn); err != nil {
		return err
	}
	// The rest of the page that holds the end of the file reads as zeros,
	// without a fault: so check that the file still reaches end, after the
	// reads, as the reads of pread do.
	if fi, err := r.f.Stat(); err != nil {
		return err
	} else if fi.Size() < end {
		return errChanged
	}
	return nil
}

func (r *mmapReader) read(off int64, n int) ([]byte, error) {
	if r.mem == nil {
		return r.pread.read(off, n)
	}
	return r.mem[off-r.base:][:n], nil
}
