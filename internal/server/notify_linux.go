package server

import (
	"context"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// notify wakes the watcher when the kernel says the file changed, so that
// appended lines are served within milliseconds rather than at the next
// periodic check: inotify watches the file (writes, attributes, its
// removal) and its directory (the name created, moved or removed, for a
// file replaced under it). It returns when ctx ends. Where inotify cannot
// watch (another system, too many watches, a network file system that does
// not report others' writes), the periodic check is all there is.
func (s *Server) notify(ctx context.Context) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		s.log.Debug("no file notifications; checking every interval", "err", err)
		return
	}
	// Non-blocking, so that Go's poller waits for it and Close ends a Read.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	const fileEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
	const dirEvents = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE
	watchFile := func() {
		// A new file at the path gets a watch of its own; the old one's
		// goes when it is gone.
		if _, err := unix.InotifyAddWatch(fd, s.cfg.File, fileEvents); err != nil {
			s.log.Debug("cannot watch the file; checking every interval", "file", s.cfg.File, "err", err)
		}
	}
	watchFile()
	dir, name := filepath.Split(s.cfg.File)
	if dir == "" {
		dir = "."
	}
	if _, err := unix.InotifyAddWatch(fd, dir, dirEvents); err != nil {
		s.log.Debug("cannot watch the file's directory", "dir", dir, "err", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return // closed: ctx ended
		}
		poke, rewatch := false, false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				poke = true
			case ev.Len == 0: // the file itself
				poke = true
			case cString(nameBytes) == name: // its name in the directory
				poke = true
				rewatch = ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0
			}
		}
		if rewatch {
			watchFile()
		}
		if poke {
			s.poke()
		}
	}
}

// cString is b up to its first NUL (inotify pads names with NULs).
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
