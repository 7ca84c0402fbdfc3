package lineindex

import (
	"golang.org/x/sys/unix"
)

// sendPiece is how many bytes one sendfile copies at most: the file's stamp
// is checked after each.
const sendPiece = 1 << 20

// sendfile copies the file's bytes from off towards end to dst with
// sendfile(2), checking the stamp after each piece as ReadAt does, and
// returns how many it copied. It stops quietly where the kernel does not
// copy (dst opened to append, a file system without it) or reports an
// error: the caller copies the rest, and sees the error there if it stays.
func (s *Source) sendfile(dst rawWriter, off, end int64) (int64, error) {
	rc, err := dst.SyscallConn()
	if err != nil {
		return 0, nil
	}
	var n int64
	for off+n < end {
		var k int
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			at := off + n
			k, serr = unix.Sendfile(int(fd), s.fd, &at, int(min(end-off-n, sendPiece)))
			return serr != unix.EAGAIN
		}); err != nil {
			return n, nil
		}
		if k > 0 {
			n += int64(k)
			if s.State() == Changed {
				return n, ErrMismatch
			}
		}
		if serr != nil || k <= 0 {
			return n, nil
		}
	}
	return n, nil
}
