package server

import "syscall"

// statMatches tells whether g's open file still has the size and
// modification time it was indexed with. One fstat, no allocation.
//
// The status change time is not compared, although the index records it:
// it also moves when the file is renamed, linked or unlinked, and a file
// deleted or renamed away is still served while its content is unchanged.
func (g *generation) statMatches() bool {
	var st syscall.Stat_t
	if syscall.Fstat(g.fd, &st) != nil {
		return false
	}
	return st.Size == g.size && st.Mtim.Nano() == g.modTime
}
