package command

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// OpenSource opens a file to index or read lines from. It refuses, with a
// clear reason, anything but a regular file whose size is its content:
//   - a directory, FIFO, socket or device, before opening it (opening a
//     FIFO waits for a writer; opening a device can act on it), and again
//     after, in case another file was put at name in between;
//   - a file of a pseudo file system such as /proc or /sys, and a file the
//     kernel says is empty but that has content: their size is not what
//     they hold, which the index relies on.
//
// The file is opened non-blocking, and set back to blocking reads once it
// is known to be a regular file.
func OpenSource(name string) (*os.File, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, errors.New(describe(name, err))
	}
	if why := notRegular(fi.Mode()); why != "" {
		return nil, errors.New(name + ": " + why)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, errors.New(describe(name, err))
	}
	if err := checkSource(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return f, nil
}

// notRegular says what a file of mode m is, if it is not a regular file.
func notRegular(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "is a directory"
	case m&os.ModeNamedPipe != 0:
		return "not a regular file (a FIFO)"
	case m&os.ModeSocket != 0:
		return "not a regular file (a socket)"
	case m&os.ModeDevice != 0:
		return "not a regular file (a device)"
	}
	return "not a regular file"
}

// checkSource checks the file just opened, and makes its reads blocking.
func checkSource(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if why := notRegular(fi.Mode()); why != "" {
		return errors.New(why)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return controlErr(rc, func(fd int) error {
		if err := pseudoFile(fd); err != nil {
			return err
		}
		if fi.Size() == 0 {
			var b [1]byte
			if n, _ := syscall.Pread(fd, b[:], 0); n > 0 {
				return errors.New("the system says it is empty, but it has content (a file whose size is not its content cannot be indexed; copy it to a regular file first)")
			}
		}
		return syscall.SetNonblock(fd, false)
	})
}

// controlErr runs fn on the descriptor of rc and returns its error.
func controlErr(rc syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
