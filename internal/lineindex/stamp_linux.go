package lineindex

import (
	"io/fs"
	"os"
	"syscall"
)

func sysStamp(fi fs.FileInfo) (changeTime int64, dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return st.Ctim.Nano(), st.Dev, st.Ino
}

// fstat returns the stamp of the open file f, whose descriptor is fd: one
// system call, no allocation.
func fstat(_ *os.File, fd int) (stamp, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return stamp{}, err
	}
	return stamp{size: st.Size, modTime: st.Mtim.Nano(), changeTime: st.Ctim.Nano(), dev: st.Dev, ino: st.Ino}, nil
}
