//go:build unix

package lineindex

import (
	"os"
	"syscall"
)

// mmap maps the first size bytes of f read-only and shared: the pages are
// the page cache's, so they cost the process no private memory.
func mmap(f *os.File, size int) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
}

func munmap(b []byte) error { return syscall.Munmap(b) }
