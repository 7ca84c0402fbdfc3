package lineindex

import (
	"io"
	"os"
	"time"
)

// newPieceReader maps files into memory, or reads them, whichever is faster
// on this machine (see mmapReader); other sources are read.
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
//
// Which is faster depends on the machine: on one, mapping saved the copy
// that reading makes, half of a build's CPU time; on a virtual machine
// where a page fault costs an exit to the hypervisor, mapping made builds
// three times slower than reading (391 ms against 132 ms for 1 GiB). So
// each worker times its first tasks both ways, and goes on with the
// faster.
type mmapReader struct {
	f     *os.File
	mem   []byte // the running task's mapping; nil: read with pread
	base  int64  // the file offset of mem[0]
	pread preadReader

	tasks            int   // begun so far
	mappedNs, readNs int64 // nanoseconds per MiB of the probe tasks, each way
	useRead          bool  // decided: read, do not map
}

// probeTasks is how many tasks each way a worker times before it decides.
const probeTasks = 2

func (r *mmapReader) task(start, end int64, fn func() error) error {
	r.tasks++
	if r.tasks == 2*probeTasks+1 {
		r.useRead = r.readNs < r.mappedNs
	}
	switch {
	case r.tasks > 2*probeTasks && r.useRead:
		return fn()
	case r.tasks > 2*probeTasks:
		return r.mappedTask(start, end, fn)
	}
	// Probing: mapped, read, mapped, read.
	t := time.Now()
	var err error
	if r.tasks%2 == 1 {
		err = r.mappedTask(start, end, fn)
		r.mappedNs += int64(time.Since(t)) << 20 / max(end-start, 1)
	} else {
		err = fn()
		r.readNs += int64(time.Since(t)) << 20 / max(end-start, 1)
	}
	return err
}

var pageSize = int64(os.Getpagesize())

// mappedTask runs fn with the task's range mapped.
func (r *mmapReader) mappedTask(start, end int64, fn func() error) error {
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
