package lineindex

import (
	"fmt"
	"io/fs"
	"time"
)

// stamp is what the file system says about one version of a file without
// reading it: which file it is (device and inode), its size, and its
// modification and status change times. The status change time (ctime)
// cannot be set by anyone: it moves on every write, truncation, rename,
// link, unlink and chmod. A zero changeTime, dev and ino mean unknown: the
// system does not give them.
type stamp struct {
	size       int64
	modTime    int64 // Unix nanoseconds
	changeTime int64 // Unix nanoseconds
	dev, ino   uint64
}

// known tells whether the stamp identifies its file: without device,
// inode and status change time, a saved index is never trusted.
func (s stamp) known() bool { return s.changeTime != 0 && (s.dev != 0 || s.ino != 0) }

// differs says how o differs from s, the stamp an index recorded, or ""
// if it does not.
func (s stamp) differs(o stamp) string {
	switch {
	case !o.known():
		return "this system does not tell which file it is"
	case s.dev != o.dev || s.ino != o.ino:
		return fmt.Sprintf("index is for another file (device %d, inode %d; this is device %d, inode %d)", s.dev, s.ino, o.dev, o.ino)
	case s.size != o.size:
		return fmt.Sprintf("file is %d bytes, index is for %d", o.size, s.size)
	case s.modTime != o.modTime:
		return fmt.Sprintf("file modified at %v, index is for %v", utc(o.modTime), utc(s.modTime))
	case s.changeTime != o.changeTime:
		return fmt.Sprintf("file status changed at %v, index is for %v", utc(o.changeTime), utc(s.changeTime))
	}
	return ""
}

// statusOnly tells whether o, a stamp known to the system, is s with only
// its status change time moved: the file's metadata changed (chmod, chown,
// a link, a rename), and as far as its size and modification time tell,
// not its content.
func (s stamp) statusOnly(o stamp) bool {
	return s.known() && o.known() && o.changeTime != s.changeTime &&
		stamp{o.size, o.modTime, s.changeTime, o.dev, o.ino} == s
}

func utc(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// stampOf returns the stamp of the file fi describes.
func stampOf(fi fs.FileInfo) stamp {
	s := stamp{size: fi.Size(), modTime: fi.ModTime().UnixNano()}
	s.changeTime, s.dev, s.ino = sysStamp(fi)
	return s
}
