package lineindex

import (
	"io"
	"os"
)

// Source is an open file read as the version of it that an index
// describes. After every read it checks, with one fstat that allocates
// nothing, that the file still has the size, modification time and status
// change time the index recorded, and refuses the bytes it read otherwise
// (ErrMismatch). The kernel stamps those times at the start of every write
// (and Build only indexes a file that has settled), so bytes that a read
// returns were in the file before it changed: whatever reads only through a
// Source, such as [Index.Find] and [Line.WriteTo], gets bytes of the indexed
// version or an error, never a mix of two versions.
type Source struct {
	f  *os.File
	fd int // f's descriptor, valid while f is open
	st stamp
}

// Source returns f, the file ix describes, read as ix's version. The
// caller keeps f open while the Source is in use: the Source keeps f's
// descriptor number, which another file could take once f is closed.
func (ix *Index) Source(f *os.File) *Source {
	return &Source{f: f, fd: int(f.Fd()), st: ix.stamp}
}

// ReadAt reads from the file, as io.ReaderAt says, but fails with
// ErrMismatch, returning no bytes, if the file has changed by the time the
// read is done. A read that fails returns its own error.
func (s *Source) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, err
	}
	if !s.Unchanged() {
		return 0, ErrMismatch
	}
	return n, err
}

// Unchanged tells whether the file is still the version the index
// describes, as far as its size and times tell.
func (s *Source) Unchanged() bool {
	st, err := fstat(s.f, s.fd)
	return err == nil && st == s.st
}
