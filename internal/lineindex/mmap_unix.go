//go:build unix

package lineindex

import (
	"os"
	"syscall"
)

// mmap maps length bytes of f from off (a multiple of the page size)
// read-only and shared: the pages are the page cache's, so they cost the
// process no private memory. It goes through Control, not Fd, so that the
// descriptor cannot be closed, and its number reused for another file,
// while it is being mapped.
func mmap(f *os.File, off int64, length int) (mem []byte, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	if cerr := rc.Control(func(fd uintptr) {
		mem, err = syscall.Mmap(int(fd), off, length, syscall.PROT_READ, syscall.MAP_SHARED)
	}); cerr != nil {
		return nil, cerr
	}
	return mem, err
}

func munmap(b []byte) error { return syscall.Munmap(b) }

// mapAnon maps n bytes of private memory, zero, outside Go's heap.
func mapAnon(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}
