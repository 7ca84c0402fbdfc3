//go:build !linux

package server

// statMatches tells whether g's open file still has the size and
// modification time it was indexed with.
func (g *generation) statMatches() bool {
	fi, err := g.f.Stat()
	return err == nil && fi.Size() == g.size && fi.ModTime().UnixNano() == g.modTime
}
