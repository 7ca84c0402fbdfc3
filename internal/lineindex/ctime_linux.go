package lineindex

import (
	"io/fs"
	"syscall"
)

// changeTime returns the file's status change time (ctime) in nanoseconds
// since the Unix epoch. Unlike the modification time, no one can set it: it
// moves on every write, and a copied or replaced file has a new one.
func changeTime(fi fs.FileInfo) int64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Ctim.Nano()
}
