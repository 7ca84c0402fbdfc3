//go:build unix

package server

import (
	"os"
	"syscall"
)

// dupFile returns a new *os.File on a duplicate of f's descriptor.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
