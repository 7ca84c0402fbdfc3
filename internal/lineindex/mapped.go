package lineindex

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"runtime"
	"sync/atomic"
)

// sumLen is the length of the chunks of a mapped body whose checksums a
// look-up verifies: 32 checkpoints. A look-up copies and sums one chunk,
// rarely two, which adds 50 to 120 ns to it here, the same within the
// noise from 128 bytes to 512; larger chunks take less memory for their
// sums (8 bytes per KiB of body: 800 KiB for a 100 GiB source), and 512
// bytes is the most that Find's smallest buffer, which holds the copy,
// can take.
const sumLen = 32 * entryLen

const _ uint = minBuffer - sumLen // compiles only if Find's buffer can hold a chunk

// ErrIndexChanged reports a mapped index file that was truncated or
// overwritten after it was read: a look-up found the checkpoints it needed
// missing or different from those that were checked. It matches
// ErrMismatch, so that callers index the source again, as they do when the
// source itself changes.
var ErrIndexChanged error = indexChanged{}

type indexChanged struct{}

func (indexChanged) Error() string        { return "index file changed after it was read" }
func (indexChanged) Is(target error) bool { return target == ErrMismatch }

// errNotMapped sends ReadFile to Decode.
var errNotMapped = errors.New("not mapped")

// mapping is a read-only shared mapping of an index file. Indexes
// extended in memory share it with the index they grew from (see
// Index.base): it is unmapped when the last of them is closed, or when
// none can be reached any more.
type mapping struct {
	data   []byte
	users  atomic.Int64 // indexes using it and not closed
	closed atomic.Bool  // unmapped
}

// release ends one index's use of m.
func (m *mapping) release() error {
	if m.users.Add(-1) > 0 {
		return nil
	}
	return m.unmap()
}

func (m *mapping) unmap() error {
	if m.closed.Swap(true) {
		return nil
	}
	return munmap(m.data)
}

// readMapped reads the index file f as Decode would, but maps its body
// instead of reading it. It fails with errNotMapped where f cannot be
// mapped, or is not a well-sized index file, for Decode to read it and say
// what is wrong.
func readMapped(f *os.File) (*Index, error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < headerLen {
		return nil, errNotMapped
	}
	var h [headerLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, errNotMapped
	}
	ix, k, bodyCRC, err := decodeHeader(&h)
	if err != nil {
		return nil, err
	}
	switch size := uint64(fi.Size()) - headerLen; {
	case size < k*entryLen+uint64(ix.accessLen):
		return nil, corrupt("truncated body")
	case size > k*entryLen+uint64(ix.accessLen):
		return nil, corrupt("trailing bytes after the body")
	}
	if int64(int(fi.Size())) != fi.Size() {
		return nil, errNotMapped // beyond a 32-bit address space
	}
	data, err := mmap(f, 0, int(fi.Size()))
	if err != nil {
		return nil, errNotMapped
	}
	ix.m = &mapping{data: data}
	ix.m.users.Store(1)
	ix.cps = table(data[headerLen : headerLen+int64(k*entryLen)])
	if err := ix.checkMapped(int(k), bodyCRC); err != nil {
		ix.m.unmap()
		return nil, err
	}
	if ix.encoding != plainSource {
		ix.access, err = mapAccess(data[headerLen+int64(k*entryLen):], ix.guard, ix.accessCRC, ix.encoding, ix.size, ix.text)
		if err != nil {
			ix.m.unmap()
			return nil, err
		}
	}
	// A forgotten Close must not leak the mapping. Indexes that share it
	// hold ix, so none is left when ix cannot be reached.
	runtime.AddCleanup(ix, func(m *mapping) { m.unmap() }, ix.m)
	return ix, nil
}

// checkMapped checks a mapped body as Decode checks a body it read, and
// takes the sums of its chunks. Each chunk is copied once and everything is
// computed from the copy, so that the sums are those of the bytes that were
// checked, whatever happens to the file meanwhile.
func (ix *Index) checkMapped(k int, bodyCRC uint32) error {
	ix.sums = make([]uint32, (len(ix.cps)+sumLen-1)/sumLen)
	tc := tableCheck{ix: ix, k: k}
	var tableErr error
	var buf [sumLen]byte
	crc := uint32(0)
	err := ix.guard(func() error {
		for i := range ix.sums {
			chunk := buf[:copy(buf[:], ix.cps[i*sumLen:])]
			crc = crc32.Update(crc, castagnoli, chunk)
			ix.sums[i] = crc32.Checksum(chunk, castagnoli)
			if tableErr == nil {
				tableErr = tc.add(table(chunk))
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrIndexChanged):
		return corrupt("file shrank while it was read")
	case err != nil:
		return err
	case crc != bodyCRC:
		return corrupt("body checksum mismatch")
	}
	return tableErr
}

// guard runs f, which reads the mapped body, with faults guarded (see
// guardFaults): a body truncated since it was mapped fails f with
// ErrIndexChanged. It does not run f once the index is closed.
func (ix *Index) guard(f func() error) error {
	if ix.m.closed.Load() {
		return fs.ErrClosed
	}
	err := guardFaults(ix.m.data, ErrIndexChanged, f)
	runtime.KeepAlive(ix) // its cleanup unmaps the body f reads
	return err
}

// checkedChunk copies the chunk that holds checkpoint i to scratch, and
// returns the copy, the position of its first checkpoint, and whether it
// has the chunk's sum. Summing the copy, not the mapping, makes sure that
// what is used is what was checked. (scratch is the caller's: a stack
// array would escape to the heap through hash/crc32.)
func (ix *Index) checkedChunk(i int, scratch []byte) (chunk table, first int, ok bool) {
	c := i * entryLen / sumLen
	chunk = table(scratch[:copy(scratch[:sumLen], ix.cps[c*sumLen:])])
	return chunk, c * sumLen / entryLen, crc32.Checksum(chunk, castagnoli) == ix.sums[c]
}

// Close releases the mapping of an index read from a file, or extended
// from one; the index must not be used afterwards, nor while Close runs.
// For an index built or decoded into memory it does nothing. Calling it
// again does nothing.
func (ix *Index) Close() error {
	root := ix.root()
	if root.m == nil || ix.closed.Swap(true) {
		return nil
	}
	return root.m.release()
}

// reopen returns ix as saved at path, read back from the file, where its
// body is mapped (see ReadFile): a program that built an index can then
// serve it without keeping its body in the heap. It fails if path holds
// another index.
func (ix *Index) reopen(path string) (*Index, error) {
	r, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if r.meta != ix.meta || !r.sameBody(ix) {
		r.Close()
		return nil, fmt.Errorf("%s holds another index", path)
	}
	return r, nil
}
