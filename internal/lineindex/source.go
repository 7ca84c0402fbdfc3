package lineindex

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
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
//
// A file that has grown keeps its indexed bytes: once the file is seen
// larger, with a new stamp, its old bytes are checked as extend checks them
// (the fingerprint's samples and the last checkpoint's block), once per
// stamp, and reads of them go on. A change to old bytes that comes with an
// append, outside what that check reads, is not seen (see Index.extend).
//
// A file whose status alone changed (chmod, chown, a link, a rename: only
// its status change time moved) is a change, unless Unwritten says that it
// was not written to: then its fingerprint is checked, once per stamp, and
// reads go on if it matches. Any file is a change once Rewritten says that
// a write to it did not grow it.
type Source struct {
	f    *os.File
	fd   int         // f's descriptor, valid while f is open
	text io.ReaderAt // the text: f itself, or a view of its decompression
	ix   *Index
	st   stamp
	// Unwritten, if set, tells whether the file is known not to have
	// been written to since it had the stamp of the index: no write, no
	// truncation, which a rewrite that put the times back would be. It
	// is set before the Source is used.
	Unwritten func() bool
	// Rewritten, if set, tells whether a write that kept or cut the file's
	// size was seen since the stamp of the index: a change, which a file
	// that has grown since would hide from the check of its old bytes, and
	// an index extended from one saved before it would carry. It is set
	// before the Source is used, and must be cheap: every read asks it.
	Rewritten func() bool
	// grown is the latest stamp of the file, larger than indexed, at
	// which its indexed bytes were checked; restamped the latest with
	// only the status change time moved; nil if none yet.
	grown, restamped atomic.Pointer[stamp]
	mu               sync.Mutex // one check of a stamp at a time
}

// Source returns f, the file ix describes, read as ix's version; a
// compressed file's reads share what o says. The caller keeps f open while
// the Source is in use: the Source keeps f's descriptor number, which
// another file could take once f is closed.
func (ix *Index) Source(f *os.File, o SourceOptions) *Source {
	s := &Source{f: f, fd: int(f.Fd()), text: f, ix: ix, st: ix.stamp}
	if ix.access != nil {
		s.text = newCompressedText(f, ix, o)
	}
	return s
}

// ReadAt reads from the file, as io.ReaderAt says, but fails with
// ErrMismatch, returning no bytes, if the file has changed by the time the
// read is done (growing is not changing, for the bytes indexed). A read
// that fails returns its own error.
func (s *Source) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.text.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, err
	}
	if s.State() == Changed {
		return 0, ErrMismatch
	}
	return n, err
}

// State is what has become of a Source's file since it was indexed.
type State int

const (
	Same    State = iota // the version the index describes
	Grown                // larger, its indexed bytes the same as far as checked
	Changed              // anything else: its indexed bytes cannot be trusted
)

// AppendStarting is how long a file whose times moved is given for its
// size to move too, as it does once an append has begun copying, before
// the write that moved them counts as a change (here in fstatGrowing; lined
// gives a reported write as long). The writer stamps the times first and
// may lose its CPU before it copies a byte, for some milliseconds on a
// loaded machine (R10 caught a shorter wait taking appends for changes).
// Only a write that keeps the size, a change, waits it out in full.
const AppendStarting = 50 * time.Millisecond

// fstatGrowing is fstat for a file that may be growing from the stamp was:
// if the file's times moved and its size did not, yet, it waits up to
// AppendStarting for the size to move, and returns the last stamp it saw.
func fstatGrowing(f *os.File, fd int, was stamp) (stamp, error) {
	st, err := fstat(f, fd)
	if err != nil || st == was || was.statusOnly(st) || st.size != was.size || st.dev != was.dev || st.ino != was.ino {
		return st, err
	}
	for deadline := time.Now().Add(AppendStarting); time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
		if st, err = fstat(f, fd); err != nil || st.size != was.size {
			break
		}
	}
	return st, err
}

// State tells what has become of the file since it was indexed: one fstat,
// and, the first time the file is seen grown to a stamp, the check of its
// old bytes.
func (s *Source) State() State {
	st, err := fstatGrowing(s.f, s.fd, s.st)
	switch {
	case err != nil, s.Rewritten != nil && s.Rewritten():
		return Changed
	case st == s.st:
		return Same
	case s.st.statusOnly(st):
		return s.statusChanged(st)
	case !s.ix.grown(st):
		return Changed
	}
	if g := s.grown.Load(); g != nil && *g == st {
		return Grown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.grown.Load(); g != nil && *g == st {
		return Grown
	}
	if s.ix.checkGrown(s.f) != nil {
		return Changed
	}
	// The file may have grown again meanwhile; anything else is a change.
	if again, err := fstat(s.f, s.fd); err != nil || (again != st && !s.ix.grown(again)) {
		return Changed
	}
	s.grown.Store(&st)
	return Grown
}

// statusChanged is State for a file whose status alone changed, to st.
func (s *Source) statusChanged(st stamp) State {
	if r := s.restamped.Load(); r != nil && *r == st {
		return Same
	}
	if s.Unwritten == nil {
		return Changed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.restamped.Load(); r != nil && *r == st {
		return Same
	}
	if !s.Unwritten() {
		return Changed
	}
	if fp, err := fingerprint(s.f, s.st.size); err != nil || fp != s.ix.fingerprint {
		return Changed
	}
	if again, err := fstat(s.f, s.fd); err != nil || again != st {
		return Changed // checked again at the next read
	}
	s.restamped.Store(&st)
	return Same
}

// sendTo copies the file's bytes from off to end to dst: by the kernel as
// far as it will (see sendfile), the rest through memory, as ReadAt reads
// them. It fails with ErrMismatch once the file is seen changed.
func (s *Source) sendTo(dst rawWriter, off, end int64) (int64, error) {
	n, err := s.sendfile(dst, off, end)
	if err != nil || off+n == end {
		return n, err
	}
	m, err := io.Copy(dst, io.NewSectionReader(s, off+n, end-off-n))
	n += m
	if err == nil && off+n < end {
		err = ErrMismatch // the source became shorter
	}
	return n, err
}
