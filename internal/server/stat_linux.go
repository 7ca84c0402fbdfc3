package server

import (
	"os"
	"syscall"
)

// statMatches tells whether g's open file is still as it was indexed: the
// same size, modification time and status change time. One fstat, no
// allocation.
//
// The status change time (ctime) is the only sign of a rewrite that keeps
// the size and puts the modification time back (cp -p, touch -r, rsync -t
// --inplace, or tools that give every file the same time): lines may be
// renumbered without a byte moving near them. It also moves when the file
// is renamed, linked, unlinked or chmod'ed, and stat cannot tell those from
// a rewrite followed by one of them (a file rewritten, then replaced by
// another renamed over it, before the next request: TestR4ChangesUnderLoad
// found it). So any change of it counts: no line is served until the file
// has been read again (see Server.check).
func (g *generation) statMatches() bool {
	var st syscall.Stat_t
	if syscall.Fstat(g.fd, &st) != nil {
		return false
	}
	return st.Size == g.size && st.Mtim.Nano() == g.modTime && (g.ctime == 0 || st.Ctim.Nano() == g.ctime)
}

// dupFile returns a new *os.File on a duplicate of f's descriptor.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
